package diff

import (
	"encoding/json"

	"github.com/driftwatch/driftwatch/pipeline/compare"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Patch returns the RFC 6902 patch that turns document from into document to (compare.Patch).
func Patch(from, to []byte) (json.RawMessage, error) { return compare.Patch(from, to) }

// Checked returns the pointers an observation is compared on (compare.Checked).
func Checked(p drift.Policy, scope []string) []string { return compare.Checked(p, scope) }

// Compare returns one FieldDrift per checked field that differs (compare.Compare).
func Compare(desired, actual json.RawMessage, checked, ignore []string) ([]drift.FieldDrift, error) {
	return compare.Compare(desired, actual, checked, ignore)
}
