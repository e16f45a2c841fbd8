// Package drift holds driftwatch's domain vocabulary: configuration items, observed and
// desired state, severities, categories, policies and findings. It is a leaf package: it
// imports the standard library only, so every other package may depend on it.
package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Severity ranks how much a drift matters.
type Severity string

// Severities, lowest first.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

var severityRank = map[Severity]int{SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4}

// Valid reports whether s is one of the known severities.
func (s Severity) Valid() bool { return severityRank[s] > 0 }

// AtLeast reports whether s ranks at or above o.
func (s Severity) AtLeast(o Severity) bool { return severityRank[s] >= severityRank[o] }

// Category is SPEC-080's drift category.
type Category string

// Categories from SPEC-080.
const (
	CategoryConfiguration Category = "configuration"
	CategoryPackage       Category = "package"
	CategoryNetwork       Category = "network"
	CategoryState         Category = "state"
	CategorySecurity      Category = "security"
	CategoryFirmware      Category = "firmware"
)

var categories = map[Category]bool{
	CategoryConfiguration: true, CategoryPackage: true, CategoryNetwork: true,
	CategoryState: true, CategorySecurity: true, CategoryFirmware: true,
}

// Valid reports whether c is one of SPEC-080's categories.
func (c Category) Valid() bool { return categories[c] }

// ActionType is the template card's remediation action.
type ActionType string

// Action types from the template card; ActionNone only records and publishes.
const (
	ActionNone         ActionType = "none"
	ActionAutoCorrect  ActionType = "auto_correct"
	ActionQuarantine   ActionType = "quarantine"
	ActionManualReview ActionType = "manual_review"
)

// Valid reports whether a is a known action type.
func (a ActionType) Valid() bool {
	switch a {
	case ActionNone, ActionAutoCorrect, ActionQuarantine, ActionManualReview:
		return true
	}
	return false
}

// Status is the lifecycle state of one drift.
type Status string

// Drift statuses.
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	// StatusRemediating: a remediation of driftwatch's own was asked for the drift.
	StatusRemediating Status = "remediating"
	StatusResolved    Status = "resolved"
	// StatusEscalated: the drift was still there after its remediation attempts; an
	// incident was opened. It still resolves when its field matches again.
	StatusEscalated Status = "escalated"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusOpen, StatusAcknowledged, StatusRemediating, StatusResolved, StatusEscalated:
		return true
	}
	return false
}

// Hash returns the baseline hash of a JSON document: "sha256:" and the hex SHA-256 of its
// canonical form (object keys sorted, no insignificant white space; see Canonical).
func Hash(doc json.RawMessage) (string, error) {
	c, err := Canonical(doc)
	if err != nil {
		return "", err
	}
	return HashCanonical(c), nil
}

// HashCanonical hashes a document already in canonical form.
func HashCanonical(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Canonical re-encodes a JSON document with sorted object keys and no white space, keeping
// numbers exactly as written and escaping strings as encoding/json does. Two documents that
// mean the same have the same canonical form. The document must obey the strict rules (see
// CheckStrict).
func Canonical(doc json.RawMessage) ([]byte, error) {
	c, err := CanonicalStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not a JSON document: %w", err)
	}
	return c, nil
}

// MaxStateBytes is the largest state an observation may carry, as submitted (over HTTP the
// body limit is the same). Every output a stage makes from one observation stays within a
// small multiple of it (a verdict carries each differing field's desired and actual values
// and its patch: at most about 4x), and the buses' entry limit (8 MiB on Redis) is sized to
// hold that, so whatever the door accepts flows through the pipeline.
const MaxStateBytes = 1 << 20
