package export

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// CI statuses that `driftwatch check` reads from the API.
const (
	StatusInSync        = "in_sync"
	StatusDrifted       = "drifted"
	StatusStale         = "stale"
	StatusNeverVerified = "never_verified"
)

// Report is what `driftwatch check` found: the CIs it asked about and their unresolved
// drifts, with when and from which server.
type Report struct {
	// Generated is when the report was read from the API.
	Generated time.Time `json:"generated"`
	// Server is the base URL of the driftwatch API.
	Server string `json:"server"`
	// Filters are the selection the report was made with (ci, category, ...); optional.
	Filters map[string]string `json:"filters,omitempty"`
	// CIs are the configuration items, in any order.
	CIs []CI `json:"cis"`
}

// CI is one configuration item with its verification status and unresolved drifts.
type CI struct {
	ID         string `json:"ci_id"`
	Type       string `json:"ci_type"`
	TemplateID string `json:"template_id,omitempty"`
	// Status is StatusInSync, StatusDrifted, StatusStale or StatusNeverVerified.
	Status string `json:"status"`
	// LastVerifiedAt is when an observation was last compared with the template; zero when
	// never.
	LastVerifiedAt time.Time `json:"last_verified_at,omitzero"`
	// Drifts are the CI's unresolved drifts, in any order.
	Drifts []Finding `json:"drifts"`
}

// Finding is one unresolved drift of a CI.
type Finding struct {
	DriftID string `json:"drift_id"`
	// Field is the JSON pointer of the drifted field in the CI's state.
	Field    string         `json:"field"`
	Category drift.Category `json:"category"`
	Severity drift.Severity `json:"severity"`
	// Desired and Actual are JSON values; empty when the field is absent on that side.
	Desired         json.RawMessage `json:"desired,omitempty"`
	Actual          json.RawMessage `json:"actual,omitempty"`
	Detail          string          `json:"detail,omitempty"`
	PolicyID        string          `json:"policy_id,omitempty"`
	TemplateID      string          `json:"template_id,omitempty"`
	TemplateVersion int             `json:"template_version,omitempty"`
	DetectedAt      time.Time       `json:"detected_at,omitzero"`
	// Status is open, acknowledged, remediating or escalated.
	Status string `json:"status"`
	// Planned marks a drift covered by a planned change.
	Planned bool   `json:"planned"`
	Ticket  string `json:"ticket,omitempty"`
	// URL links to the drift in driftwatch.
	URL string `json:"url,omitempty"`
}

// sorted returns a copy of the report's CIs sorted by id, each with a sorted copy of its
// drifts (by field, then drift id).
func sorted(r Report) []CI {
	cis := slices.Clone(r.CIs)
	slices.SortStableFunc(cis, func(a, b CI) int { return strings.Compare(a.ID, b.ID) })
	for i := range cis {
		cis[i].Drifts = slices.Clone(cis[i].Drifts)
		slices.SortStableFunc(cis[i].Drifts, func(a, b Finding) int {
			return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.DriftID, b.DriftID))
		})
	}
	return cis
}

// unverified reports whether a CI's drift status is unknown because its verification is out
// of date or never happened.
func unverified(ci CI) bool { return ci.Status == StatusStale || ci.Status == StatusNeverVerified }

// severityRank orders severities for cutting results; unknown ones rank lowest.
func severityRank(s drift.Severity) int {
	switch s {
	case drift.SeverityCritical:
		return 4
	case drift.SeverityHigh:
		return 3
	case drift.SeverityMedium:
		return 2
	case drift.SeverityLow:
		return 1
	}
	return 0
}

// displayField names a field for people: the root pointer "" is the whole state.
func displayField(field string) string {
	if field == "" {
		return "(root)"
	}
	return field
}

// valueLimit is how many characters of a desired or actual value a one-line message shows.
const valueLimit = 120

// oneLine renders a JSON value on one line: compact JSON, "absent" when empty, the raw text
// with its line breaks flattened when it is not JSON, cut at valueLimit characters.
func oneLine(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "absent"
	}
	var buf bytes.Buffer
	s := string(raw)
	if err := json.Compact(&buf, raw); err == nil {
		s = buf.String()
	} else {
		s = flatten(s)
	}
	return truncate(s, valueLimit)
}

// flatten puts s on one line: every line break or tab becomes a space.
func flatten(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\t', '\v', '\f', 0x85, 0x2028, 0x2029:
			return ' '
		}
		return r
	}, s)
}

// truncate cuts s to at most n characters, marking a cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}

// jsonValue is raw as a JSON value for a document: nil when empty, raw when it is valid
// JSON, else the bytes as a JSON string.
func jsonValue(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	if json.Valid(raw) {
		return raw
	}
	s, _ := json.Marshal(string(raw)) // marshalling a string cannot fail
	return s
}

// filePath is the path of a watched file when field points into one ("/files/~1etc~1hosts"
// and "/files/~1etc~1hosts/sha256" are /etc/hosts); ok is false for other fields and for
// paths that are not absolute.
func filePath(field string) (path string, ok bool) {
	rest, found := strings.CutPrefix(field, "/files/")
	if !found {
		return "", false
	}
	token, _, _ := strings.Cut(rest, "/")
	path = strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
	if !strings.HasPrefix(path, "/") {
		return "", false
	}
	return path, true
}

// utc formats t as RFC 3339 in UTC, or "" when it is zero.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
