package servicenow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Column lengths of the fields driftwatch writes.
const (
	maxShortDescription = 160
	maxCorrelationID    = 100
	maxText             = 4000 // description, close_notes, a work note
)

// CorrelationDisplay is the correlation_display of every ticket driftwatch opens.
const CorrelationDisplay = "driftwatch"

// levels are urgency and impact per severity; see the package doc.
var levels = map[drift.Severity]struct{ urgency, impact string }{
	drift.SeverityCritical: {"1", "1"},
	drift.SeverityHigh:     {"2", "1"},
	drift.SeverityMedium:   {"2", "2"},
	drift.SeverityLow:      {"3", "2"},
}

// Change close codes.
var changeCloseCodes = []string{"successful", "successful_issues", "unsuccessful"}

// Incident close codes of current releases, and the generic codes mapped to them.
var (
	incidentCloseCodes = []string{
		"Duplicate", "Known error", "No resolution provided", "Resolved by caller",
		"Resolved by change", "Resolved by problem", "Resolved by request", "Solution provided",
		"Workaround provided", "User error",
	}
	incidentGeneric = map[string]string{
		"":                  "Solution provided",
		"successful":        "Solution provided",
		"successful_issues": "Workaround provided",
		"unsuccessful":      "No resolution provided",
		"remediated":        "Resolved by change",
	}
)

// table is the ServiceNow table of a ticket kind.
type table struct {
	name        string
	closedState string   // what Close sets
	done        []string // states in which a ticket is closed for driftwatch
}

var tables = map[action.TicketKind]table{
	action.TicketChangeRequest: {name: "change_request", closedState: "3", done: []string{"3", "4"}},
	action.TicketIncident:      {name: "incident", closedState: "6", done: []string{"6", "7", "8"}},
}

func tableOf(k action.TicketKind) (table, error) {
	t, ok := tables[k]
	if !ok {
		return table{}, fmt.Errorf("ticket kind %q is not %s or %s", k, action.TicketChangeRequest, action.TicketIncident)
	}
	return t, nil
}

func (t table) closed(state string) bool { return slices.Contains(t.done, state) }

// closeCode maps TicketClose.Code to a close_code of the table.
func (t table) closeCode(code string) (string, error) {
	code = strings.TrimSpace(code)
	if t.name == "change_request" {
		if code == "" {
			return "successful", nil
		}
		for _, c := range changeCloseCodes {
			if strings.EqualFold(c, code) {
				return c, nil
			}
		}
		return "", fmt.Errorf("close code %q is not one of change_request's %v", code, changeCloseCodes)
	}
	for _, c := range incidentCloseCodes {
		if strings.EqualFold(c, code) {
			return c, nil
		}
	}
	if c, ok := incidentGeneric[strings.ToLower(code)]; ok {
		return c, nil
	}
	return "", fmt.Errorf("close code %q is neither one of incident's %v nor a generic code (successful, successful_issues, unsuccessful, remediated)", code, incidentCloseCodes)
}

var (
	plainCorrelation = regexp.MustCompile(`^[a-z0-9._:-]+$`)
	sysIDPattern     = regexp.MustCompile(`^[0-9a-f]{32}$`)
	numberPattern    = regexp.MustCompile(`^[A-Z]{2,8}[0-9]{1,12}$`)
)

// hashPrefix starts a hashed correlation id; plain ids never start with it.
const hashPrefix = "sha256:"

// correlationValue is the correlation_id written and queried for a CorrelationID; see the
// package doc.
func correlationValue(id string) string {
	if len(id) <= maxCorrelationID && plainCorrelation.MatchString(id) && !strings.HasPrefix(id, hashPrefix) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// cut shortens s to at most n characters, ending in "…" when it had to cut, on a rune
// boundary.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:n-1]), isSpace) + "…"
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// oneLine folds every run of white space into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// updateMarker is the mark a work note carries, derived from everything that makes one
// update: see the package doc.
func updateMarker(sysID string, u action.TicketUpdate) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", sysID, u.Note, u.Severity, u.At.UTC().Format(time.RFC3339Nano))
	return "driftwatch-update:" + hex.EncodeToString(h.Sum(nil))[:16]
}
