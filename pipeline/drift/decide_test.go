package drift_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// at is the decisions' clock: Wednesday 2026-03-04 12:00 UTC.
var at = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// fieldDrift is a drift on field whose actual value is actual, with one replace operation
// per path.
func fieldDrift(field, actual string, paths ...string) drift.FieldDrift {
	ops := make([]map[string]any, len(paths))
	for i, p := range paths {
		ops[i] = map[string]any{"op": "replace", "path": p, "value": 1}
	}
	patch, _ := json.Marshal(ops)
	return drift.FieldDrift{Field: field, Desired: json.RawMessage(`null`), Actual: json.RawMessage(actual), Patch: patch}
}

var (
	power  = fieldDrift("/power_state", `"stopped"`, "/power_state")
	mtu    = fieldDrift("/interfaces", `[{"name":"eth0","mtu":9000}]`, "/interfaces/0/mtu")
	ifname = fieldDrift("/interfaces", `[{"name":"eth9","mtu":9000}]`, "/interfaces/0/mtu", "/interfaces/0/name")
	hosts  = fieldDrift("/files/~1etc~1hosts", `{"sha256":"x"}`, "/files/~1etc~1hosts/sha256")
)

func exception(field, value string, expires time.Time) drift.Exception {
	return drift.Exception{Field: field, Value: json.RawMessage(value), ExpiresAt: expires, Ticket: "CHG0042", Reason: "approved"}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	base := drift.Policy{ID: "p", CIType: "vm", Severity: drift.SeverityHigh}
	with := func(edit func(*drift.Policy)) drift.Policy { p := base; edit(&p); return p }
	cases := []struct {
		name     string
		drifts   []drift.FieldDrift
		policy   drift.Policy
		now      time.Time
		open     []string
		differs  []string
		excepted []string
		severity map[string]drift.Severity
		category map[string]drift.Category
		ops      map[string]int
		actAfter time.Time
		detect   bool
	}{
		{name: "opens_every_differing_field_under_the_policy_severity", drifts: []drift.FieldDrift{power, hosts}, policy: base,
			open: []string{"/power_state", "/files/~1etc~1hosts"}, differs: []string{"/power_state", "/files/~1etc~1hosts"},
			severity: map[string]drift.Severity{"/power_state": drift.SeverityHigh}, category: map[string]drift.Category{"/power_state": drift.CategoryConfiguration}},
		{name: "ignores_a_change_under_a_wildcard_pointer", drifts: []drift.FieldDrift{mtu},
			policy: with(func(p *drift.Policy) { p.Ignore = []string{"/interfaces/*/mtu"} }), differs: []string{}},
		{name: "keeps_the_changes_a_wildcard_ignore_does_not_cover", drifts: []drift.FieldDrift{ifname},
			policy: with(func(p *drift.Policy) { p.Ignore = []string{"/interfaces/*/mtu"} }),
			open:   []string{"/interfaces"}, differs: []string{"/interfaces"}, ops: map[string]int{"/interfaces": 1}},
		{name: "ignores_every_file_under_files_star", drifts: []drift.FieldDrift{hosts, power},
			policy: with(func(p *drift.Policy) { p.Ignore = []string{"/files/*"} }), open: []string{"/power_state"}, differs: []string{"/power_state"}},
		{name: "gives_a_field_the_first_rule_that_covers_it", drifts: []drift.FieldDrift{hosts, power, mtu},
			policy: with(func(p *drift.Policy) {
				p.Rules = []drift.FieldRule{
					{Field: "/files/*", Severity: drift.SeverityCritical, Category: drift.CategorySecurity},
					{Field: "/files", Severity: drift.SeverityLow},
					{Field: "/interfaces/*/mtu", Category: drift.CategoryNetwork},
				}
			}),
			open: []string{"/files/~1etc~1hosts", "/power_state", "/interfaces"}, differs: []string{"/files/~1etc~1hosts", "/power_state", "/interfaces"},
			severity: map[string]drift.Severity{"/files/~1etc~1hosts": drift.SeverityCritical, "/power_state": drift.SeverityHigh, "/interfaces": drift.SeverityHigh},
			category: map[string]drift.Category{"/files/~1etc~1hosts": drift.CategorySecurity, "/power_state": drift.CategoryConfiguration, "/interfaces": drift.CategoryNetwork}},
		{name: "does_not_apply_a_rule_that_covers_only_some_changes", drifts: []drift.FieldDrift{ifname},
			policy: with(func(p *drift.Policy) {
				p.Rules = []drift.FieldRule{{Field: "/interfaces/*/mtu", Severity: drift.SeverityLow}}
			}),
			open: []string{"/interfaces"}, differs: []string{"/interfaces"}, severity: map[string]drift.Severity{"/interfaces": drift.SeverityHigh}},
		{name: "excepts_the_approved_value_before_expiry", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.Exceptions = []drift.Exception{exception("/power_state", `"stopped"`, at.Add(time.Hour))}
			}),
			differs: []string{}, excepted: []string{"/power_state"}},
		{name: "reports_the_approved_value_once_the_exception_expired", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) { p.Exceptions = []drift.Exception{exception("/power_state", `"stopped"`, at)} }),
			open:   []string{"/power_state"}, differs: []string{"/power_state"}},
		{name: "reports_a_value_the_exception_does_not_approve", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.Exceptions = []drift.Exception{exception("/power_state", `"paused"`, at.Add(time.Hour))}
			}),
			open: []string{"/power_state"}, differs: []string{"/power_state"}},
		{name: "excepts_a_value_below_the_field_with_a_wildcard", drifts: []drift.FieldDrift{mtu},
			policy: with(func(p *drift.Policy) {
				p.Exceptions = []drift.Exception{exception("/interfaces/*/mtu", `9000`, at.Add(time.Hour))}
			}),
			differs: []string{}, excepted: []string{"/interfaces"}},
		{name: "keeps_the_changes_an_exception_does_not_approve", drifts: []drift.FieldDrift{ifname},
			policy: with(func(p *drift.Policy) {
				p.Exceptions = []drift.Exception{exception("/interfaces/*/mtu", `9000`, at.Add(time.Hour))}
			}),
			open: []string{"/interfaces"}, differs: []string{"/interfaces"}, ops: map[string]int{"/interfaces": 1}},
		{name: "lists_what_differs_but_opens_nothing_under_the_threshold", drifts: []drift.FieldDrift{power, hosts},
			policy:  with(func(p *drift.Policy) { p.DriftThreshold = 3 }),
			differs: []string{"/power_state", "/files/~1etc~1hosts"}},
		{name: "counts_no_ignored_field_towards_the_threshold", drifts: []drift.FieldDrift{power, hosts},
			policy:  with(func(p *drift.Policy) { p.DriftThreshold = 2; p.Ignore = []string{"/files/*"} }),
			differs: []string{"/power_state"}},
		{name: "reports_in_detect_only_mode_and_never_waits_for_a_window", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.DetectOnly = true
				p.MaintenanceWindows = []drift.Window{{Days: []string{"sat"}, Start: "02:00", Duration: "2h"}}
			}),
			open: []string{"/power_state"}, differs: []string{"/power_state"}, detect: true},
		{name: "waits_for_the_next_weekly_window", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.MaintenanceWindows = []drift.Window{{Days: []string{"sat", "tue"}, Start: "02:00", Duration: "2h"}}
			}),
			open: []string{"/power_state"}, differs: []string{"/power_state"}, actAfter: time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)},
		{name: "acts_at_once_inside_a_window_that_opened_the_day_before", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.MaintenanceWindows = []drift.Window{{Days: []string{"tue"}, Start: "22:00", Duration: "16h"}}
			}),
			open: []string{"/power_state"}, differs: []string{"/power_state"}},
		{name: "waits_for_the_earliest_of_a_weekly_and_a_one_off_window", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.MaintenanceWindows = []drift.Window{
					{Days: []string{"sat"}, Start: "02:00", Duration: "2h"},
					{From: at.Add(3 * time.Hour), To: at.Add(4 * time.Hour)},
					{From: at.Add(-3 * time.Hour), To: at.Add(-2 * time.Hour)},
				}
			}),
			open: []string{"/power_state"}, differs: []string{"/power_state"}, actAfter: at.Add(3 * time.Hour)},
		{name: "holds_remediation_when_every_window_has_passed", drifts: []drift.FieldDrift{power},
			policy: with(func(p *drift.Policy) {
				p.MaintenanceWindows = []drift.Window{{From: at.Add(-3 * time.Hour), To: at.Add(-2 * time.Hour)}}
			}),
			open: []string{"/power_state"}, differs: []string{"/power_state"}, actAfter: drift.Never},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			now := c.now
			if now.IsZero() {
				now = at
			}
			v := drift.Decide(c.drifts, c.policy, now)
			var open, excepted []string
			for _, fd := range v.Drifts {
				open = append(open, fd.Field)
				if want, ok := c.severity[fd.Field]; ok && fd.Severity != want {
					t.Errorf("%s severity %s, want %s", fd.Field, fd.Severity, want)
				}
				if want, ok := c.category[fd.Field]; ok && fd.Category != want {
					t.Errorf("%s category %s, want %s", fd.Field, fd.Category, want)
				}
				if want, ok := c.ops[fd.Field]; ok {
					var ops []json.RawMessage
					if err := json.Unmarshal(fd.Patch, &ops); err != nil || len(ops) != want {
						t.Errorf("%s patch %s, want %d operations", fd.Field, fd.Patch, want)
					}
				}
			}
			for _, e := range v.Excepted {
				excepted = append(excepted, e.Field)
				if e.Ticket != "CHG0042" {
					t.Errorf("excepted %s without its ticket: %+v", e.Field, e)
				}
			}
			if !slices.Equal(open, c.open) || !slices.Equal(v.Differs, c.differs) || !slices.Equal(excepted, c.excepted) {
				t.Fatalf("open %q differs %q excepted %q; want %q, %q, %q", open, v.Differs, excepted, c.open, c.differs, c.excepted)
			}
			if v.ThresholdMet != (len(c.open) > 0) {
				t.Errorf("threshold met %v with %d open", v.ThresholdMet, len(c.open))
			}
			if !v.ActAfter.Equal(c.actAfter) || v.DetectOnly != c.detect {
				t.Errorf("act after %s detect only %v; want %s, %v", v.ActAfter, v.DetectOnly, c.actAfter, c.detect)
			}
		})
	}
}

func TestDecideLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	in := []drift.FieldDrift{ifname}
	patch := string(ifname.Patch)
	drift.Decide(in, drift.Policy{ID: "p", CIType: "vm", Ignore: []string{"/interfaces/*/mtu"}}, at)
	if string(in[0].Patch) != patch || in[0].Severity != "" {
		t.Fatalf("input changed: %+v", in[0])
	}
}

func TestPolicyValidateNamesEveryBadRuleExceptionAndWindow(t *testing.T) {
	t.Parallel()
	p := drift.Policy{ID: "p", CIType: "vm", CIIDs: []string{"web-[", ""},
		Rules:      []drift.FieldRule{{Field: "files"}, {Field: "/a", Severity: "dire", Category: "mood"}},
		Exceptions: []drift.Exception{{Field: "/a", Value: json.RawMessage(`{bad`)}, {}},
		MaintenanceWindows: []drift.Window{
			{Days: []string{"someday"}, Start: "25:00", Duration: "9d"},
			{From: at, To: at.Add(-time.Hour)},
			{Days: []string{"mon"}, From: at},
			{},
		},
	}
	p.SetDefaults()
	err := p.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, f := range []string{"ci_ids[0]:", "ci_ids[1]:", "rules[0].field:", "rules[0]:", "rules[1].severity:", "rules[1].category:",
		"exceptions[0].value:", "exceptions[0].expires_at:", "exceptions[0].ticket:", "exceptions[0].reason:", "exceptions[1].field:",
		"maintenance_windows[0].days[0]:", "maintenance_windows[0].start:", "maintenance_windows[0].duration:",
		"maintenance_windows[1].to:", "maintenance_windows[2]:", "maintenance_windows[3]:"} {
		if !containsLine(err.Error(), f) {
			t.Errorf("error does not name %s:\n%s", f, err)
		}
	}
	good := drift.Policy{ID: "p", CIType: "vm", CIIDs: []string{"web-*"},
		Rules:              []drift.FieldRule{{Field: "/files/*", Severity: drift.SeverityCritical}},
		Exceptions:         []drift.Exception{exception("/power_state", `"stopped"`, at)},
		MaintenanceWindows: []drift.Window{{Days: []string{"sat"}, Start: "02:00", Duration: "2h"}, {From: at, To: at.Add(time.Hour)}},
	}
	good.SetDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("good policy refused: %v", err)
	}
	if !good.Selects("web-1") || good.Selects("db-1") || !base().Selects("anything") {
		t.Fatal("ci_ids do not select by glob")
	}
}

func base() drift.Policy { return drift.Policy{ID: "p", CIType: "vm"} }

func containsLine(s, prefix string) bool {
	return slices.ContainsFunc(strings.Split(s, "\n"), func(l string) bool { return strings.HasPrefix(l, prefix) })
}
