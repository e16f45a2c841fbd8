package drift

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Policy is a SPEC-080 drift policy with the template card's threshold and action.
type Policy struct {
	// ID names the policy; required.
	ID string `json:"id"`
	// Name is a human title.
	Name string `json:"name,omitempty"`
	// CIType selects the CIs the policy governs (observation ci_type); required unless
	// TemplateID is set.
	CIType string `json:"ci_type,omitempty"`
	// TemplateID, when set, binds the policy to CIs checked against that template; it wins over
	// CIType.
	TemplateID string `json:"template_id,omitempty"`
	// CIIDs narrows the policy to the CIs whose id matches one of these globs (path.Match
	// syntax: "web-*", "db-0?"), among those its template_id or ci_type selects. Of the
	// policies bound alike, one whose ci_ids match wins over one without ci_ids; a policy
	// whose ci_ids match none leaves the CI to the next candidate. Empty means every CI.
	CIIDs []string `json:"ci_ids,omitempty"`
	// MonitoredFields are the fields compared: a name ("power_state") or a JSON pointer
	// ("/network/0/name"). Empty means every field.
	MonitoredFields []string `json:"monitored_fields,omitempty"`
	// Ignore lists JSON pointers never reported, even under a monitored field. A "*" token
	// matches any one key or index: "/interfaces/*/mtu" ignores every interface's MTU,
	// "/files/*" every file.
	Ignore []string `json:"ignore,omitempty"`
	// Rules give severity and category per field: the first rule whose field pattern covers
	// a drift (the drift's field, or every change of it, lies at or below the pattern) sets
	// them; a drift no rule covers, or a rule's empty severity or category, takes the
	// policy's.
	Rules []FieldRule `json:"rules,omitempty"`
	// DetectOnly makes the policy report only: drifts open, update, resolve and notify, but
	// no action of any kind (ticket, remediation, quarantine, script) is asked for.
	DetectOnly bool `json:"detect_only,omitempty"`
	// Exceptions approve a value for a field until they expire: a drift whose actual value
	// is the approved one is not opened, and one already open resolves as excepted. An
	// expired exception suppresses nothing.
	Exceptions []Exception `json:"exceptions,omitempty"`
	// MaintenanceWindows, when set, are the only times a remediation may run (UTC): outside
	// them a verdict's act_after is the next window's opening. Drifts, tickets and
	// notifications do not wait. Empty means remediation runs at once.
	MaintenanceWindows []Window `json:"maintenance_windows,omitempty"`
	// Category of the drifts this policy reports; default configuration.
	Category Category `json:"category,omitempty"`
	// Severity of the drifts this policy reports; default medium.
	Severity Severity `json:"severity,omitempty"`
	// DriftThreshold is how many monitored fields must differ before any drift is opened;
	// default 1. Fields that already drifted stay open until they match again.
	DriftThreshold int `json:"drift_threshold,omitempty"`
	// ActionType is the remediation the policy asks for; default none.
	ActionType ActionType `json:"action_type,omitempty"`
	// Script is the remediation playbook or script for auto_correct.
	Script string `json:"script,omitempty"`
	// AutoChangeRequest asks for an ITSM change request per drift.
	AutoChangeRequest bool `json:"auto_change_request"`
	// AutoRemediate asks for an ansible-runner remediation run per drift.
	AutoRemediate bool `json:"auto_remediate"`
	// Notify lists alert destinations (e-mail addresses, Slack channels, PagerDuty keys).
	Notify []string `json:"notify,omitempty"`
	// Version counts the policy's changes from 1, set by driftwatch.
	Version int `json:"version,omitempty"`
}

// DefaultPolicy governs CIs that no policy names: every field, medium severity, no action.
func DefaultPolicy() Policy {
	p := Policy{ID: "default", Name: "Default: every field"}
	p.SetDefaults()
	return p
}

// SetDefaults fills the documented defaults.
func (p *Policy) SetDefaults() {
	if p.Category == "" {
		p.Category = CategoryConfiguration
	}
	if p.Severity == "" {
		p.Severity = SeverityMedium
	}
	if p.DriftThreshold == 0 {
		p.DriftThreshold = 1
	}
	if p.ActionType == "" {
		p.ActionType = ActionNone
	}
}

// Validate reports every problem with p at once; each error names its field.
func (p Policy) Validate() error {
	var errs []error
	if strings.TrimSpace(p.ID) == "" {
		errs = append(errs, errors.New("id: required"))
	}
	if p.CIType == "" && p.TemplateID == "" {
		errs = append(errs, errors.New("ci_type: required unless template_id is set"))
	}
	if !p.Severity.Valid() {
		errs = append(errs, fmt.Errorf("severity: %q is not one of low, medium, high, critical", p.Severity))
	}
	if !p.Category.Valid() {
		errs = append(errs, fmt.Errorf("category: %q is not a SPEC-080 category", p.Category))
	}
	if !p.ActionType.Valid() {
		errs = append(errs, fmt.Errorf("action_type: %q is not one of none, auto_correct, quarantine, manual_review", p.ActionType))
	}
	if p.DriftThreshold < 1 {
		errs = append(errs, fmt.Errorf("drift_threshold: %d must be at least 1", p.DriftThreshold))
	}
	for i, f := range p.MonitoredFields {
		if err := ValidPointer(FieldPointer(f)); err != nil {
			errs = append(errs, fmt.Errorf("monitored_fields[%d]: %w", i, err))
		}
	}
	for i, f := range p.Ignore {
		if err := ValidPointer(f); err != nil {
			errs = append(errs, fmt.Errorf("ignore[%d]: %w", i, err))
		}
	}
	for i, g := range p.CIIDs {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			errs = append(errs, fmt.Errorf("ci_ids[%d]: %q is not a glob", i, g))
		}
	}
	for i, r := range p.Rules {
		errs = append(errs, r.validate(fmt.Sprintf("rules[%d]", i))...)
	}
	for i, e := range p.Exceptions {
		errs = append(errs, e.validate(fmt.Sprintf("exceptions[%d]", i))...)
	}
	for i, w := range p.MaintenanceWindows {
		errs = append(errs, w.validate(fmt.Sprintf("maintenance_windows[%d]", i))...)
	}
	return errors.Join(errs...)
}

// Selects reports whether the policy's ci_ids admit the CI with id ciID (every CI when it
// has none). Its template_id and ci_type are the catalogue's business (see PolicyFor).
func (p Policy) Selects(ciID string) bool {
	if len(p.CIIDs) == 0 {
		return true
	}
	for _, g := range p.CIIDs {
		if ok, _ := path.Match(g, ciID); ok {
			return true
		}
	}
	return false
}

// Preferred returns which of n policies bound alike to a CI (all to its template, or all to
// its type and no template), in policy id order (at(i) is the i-th), governs the CI with id
// ciID: the first whose ci_ids select it, else the first without ci_ids; -1 when none does.
func Preferred(n int, at func(i int) Policy, ciID string) int {
	broad := -1
	for i := range n {
		p := at(i)
		switch {
		case len(p.CIIDs) == 0:
			if broad < 0 {
				broad = i
			}
		case p.Selects(ciID):
			return i
		}
	}
	return broad
}

// Governing returns, of policies ps, the one that governs a CI (see Preferred): bound to its
// template, else bound to no template and to its type; ok is false when none does (the
// default policy governs it then).
func Governing(ps []Policy, ciID, ciType, templateID string) (p Policy, ok bool) {
	ps = slices.SortedFunc(slices.Values(ps), func(a, b Policy) int { return strings.Compare(a.ID, b.ID) })
	var byTemplate, byType []Policy
	for _, p := range ps {
		switch {
		case p.TemplateID != "":
			if templateID != "" && p.TemplateID == templateID {
				byTemplate = append(byTemplate, p)
			}
		case ciType != "" && p.CIType == ciType:
			byType = append(byType, p)
		}
	}
	for _, c := range [][]Policy{byTemplate, byType} {
		if i := Preferred(len(c), func(i int) Policy { return c[i] }, ciID); i >= 0 {
			return c[i], true
		}
	}
	return Policy{}, false
}

// FieldPointer turns a monitored field name into a JSON pointer; pointers pass unchanged.
func FieldPointer(field string) string {
	if field == "" || strings.HasPrefix(field, "/") {
		return field
	}
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(field)
}

// ValidPointer reports whether s is an RFC 6901 JSON pointer.
func ValidPointer(s string) error {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, "/") {
		return fmt.Errorf("%q is not a JSON pointer: it must start with /", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '~' && (i+1 >= len(s) || (s[i+1] != '0' && s[i+1] != '1')) {
			return fmt.Errorf("%q is not a JSON pointer: ~ must be followed by 0 or 1", s)
		}
	}
	return nil
}

// UnderPointer reports whether path is prefix itself or lies below it. A "*" token of prefix
// matches any one token of path.
func UnderPointer(path, prefix string) bool {
	ps, cs := splitPointer(path), splitPointer(prefix)
	return len(ps) >= len(cs) && segmentsMatch(cs, ps[:len(cs)])
}

// FieldOf names the checked field that a change at path belongs to. A checked pointer may use
// "*" for any one key ("/files/*" makes each file its own field); the root pointer "" makes
// each top-level key a field. A change above a checked pointer (a whole parent added or
// removed) belongs to the checked pointer, or to path itself when the pointer has a wildcard.
func FieldOf(path string, checked []string) (string, bool) {
	ps := splitPointer(path)
	for _, c := range checked {
		if c == "" {
			if len(ps) == 0 {
				return "", true
			}
			return "/" + ps[0], true
		}
		cs := splitPointer(c)
		n := min(len(cs), len(ps))
		if !segmentsMatch(cs[:n], ps[:n]) {
			continue
		}
		if len(ps) >= len(cs) {
			return "/" + strings.Join(ps[:len(cs)], "/"), true
		}
		if strings.Contains(c, "*") {
			return path, true
		}
		return c, true
	}
	return "", false
}

// splitPointer splits a pointer into its (still escaped) tokens.
func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func segmentsMatch(pattern, path []string) bool {
	for i := range pattern {
		if pattern[i] != "*" && pattern[i] != path[i] {
			return false
		}
	}
	return true
}
