package ansible_test

import (
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// ruleState is a normalised state as Facts.State builds it.
var ruleState = ansible.State{
	"packages": map[string]any{"openssh-server": "1:9.2p1-2+deb12u6", "bash": "5.2.15-2+b8"},
	"services": map[string]any{
		"ssh":    map[string]any{"state": "running", "enabled": true},
		"auditd": map[string]any{"state": "stopped", "enabled": false},
		"dbus":   map[string]any{"state": "stopped"},
	},
	"firmware": map[string]any{"bios_version": "2.17.0"},
}

func TestRulesEvaluateEachOperator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pointer string
		op      ansible.Op
		value   string
		values  []string
		want    ansible.Outcome
	}{
		{"absent_passes_for_a_missing_package", "/packages/telnet", ansible.OpAbsent, "", nil, ansible.OutcomePass},
		{"absent_fails_for_an_installed_package", "/packages/bash", ansible.OpAbsent, "", nil, ansible.OutcomeFail},
		{"absent_passes_below_a_missing_service", "/services/telnetd/state", ansible.OpAbsent, "", nil, ansible.OutcomePass},
		{"present_passes_for_an_installed_package", "/packages/openssh-server", ansible.OpPresent, "", nil, ansible.OutcomePass},
		{"present_fails_for_a_missing_package", "/packages/nftables", ansible.OpPresent, "", nil, ansible.OutcomeFail},
		{"present_fails_for_a_member_not_reported", "/services/dbus/enabled", ansible.OpPresent, "", nil, ansible.OutcomeFail},
		{"equals_passes_for_the_same_text", "/services/ssh/state", ansible.OpEquals, "running", nil, ansible.OutcomePass},
		{"equals_compares_booleans_as_text", "/services/ssh/enabled", ansible.OpEquals, "true", nil, ansible.OutcomePass},
		{"equals_fails_for_other_text", "/services/auditd/state", ansible.OpEquals, "running", nil, ansible.OutcomeFail},
		{"equals_fails_for_a_missing_value", "/services/rsyslog/state", ansible.OpEquals, "running", nil, ansible.OutcomeFail},
		{"equals_fails_for_an_object", "/services/ssh", ansible.OpEquals, "running", nil, ansible.OutcomeFail},
		{"not_equals_passes_for_other_text", "/services/auditd/state", ansible.OpNotEquals, "running", nil, ansible.OutcomePass},
		{"not_equals_passes_for_a_missing_value", "/services/avahi-daemon/state", ansible.OpNotEquals, "running", nil, ansible.OutcomePass},
		{"not_equals_fails_for_the_same_text", "/services/ssh/state", ansible.OpNotEquals, "running", nil, ansible.OutcomeFail},
		{"in_passes_for_a_listed_value", "/services/auditd/state", ansible.OpIn, "", []string{"running", "stopped"}, ansible.OutcomePass},
		{"in_fails_for_an_unlisted_value", "/services/ssh/state", ansible.OpIn, "", []string{"stopped", "failed"}, ansible.OutcomeFail},
		{"in_fails_for_a_missing_value", "/packages/nftables", ansible.OpIn, "", []string{"1.0.6"}, ansible.OutcomeFail},
		{"matches_passes_for_a_matching_version", "/packages/openssh-server", ansible.OpMatches, `^1:9\.2p1-2\+deb12u[0-9]+$`, nil, ansible.OutcomePass},
		{"matches_is_unanchored", "/firmware/bios_version", ansible.OpMatches, `17`, nil, ansible.OutcomePass},
		{"matches_fails_for_another_version", "/packages/bash", ansible.OpMatches, `^4\.`, nil, ansible.OutcomeFail},
		{"matches_fails_for_a_missing_value", "/firmware/bios_date", ansible.OpMatches, `.`, nil, ansible.OutcomeFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rules, err := ansible.NewRules([]ansible.Rule{{
				ID: "r", Title: "rule", Severity: drift.SeverityLow, Pointer: tt.pointer, Op: tt.op, Value: tt.value, Values: tt.values,
			}})
			if err != nil {
				t.Fatal(err)
			}
			got := rules.Evaluate(ruleState)
			if len(got) != 1 || got["r"] != tt.want {
				t.Errorf("outcomes %v, want r: %s", got, tt.want)
			}
		})
	}
}

func TestRulesSkipMembersNotGathered(t *testing.T) {
	t.Parallel()
	rules, err := ansible.LoadRules([]byte(`
rules:
  - {id: pkg, title: p, severity: low, pointer: /packages/telnet, op: absent}
  - {id: svc, title: s, severity: low, pointer: /services/auditd/state, op: equals, value: running}
  - {id: fw, title: f, severity: low, pointer: /firmware/bios_version, op: present}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := rules.Evaluate(ansible.State{"firmware": map[string]any{}})
	if len(got) != 1 || got["fw"] != ansible.OutcomeFail {
		t.Errorf("outcomes %v, want only fw: fail", got)
	}
	if got := rules.Evaluate(ansible.State{}); len(got) != 0 {
		t.Errorf("outcomes over nothing gathered: %v", got)
	}
}

func TestLoadRulesIsStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "names_the_file_line_and_unknown_key",
			yaml: "rules:\n  - id: a\n    title: t\n    severity: low\n    pointer: /packages/x\n    op: absent\n    serverity: high\n",
			want: []string{`rules.yaml:7: unknown key "serverity"`},
		},
		{
			name: "names_an_unknown_top_level_key",
			yaml: "rule:\n  - id: a\n",
			want: []string{`rules.yaml:1: unknown key "rule"`},
		},
		{
			name: "names_the_rule_with_a_bad_operator",
			yaml: "rules:\n  - id: ok\n    title: t\n    severity: low\n    pointer: /packages/x\n    op: absent\n  - id: bad-op\n    title: t\n    severity: low\n    pointer: /packages/x\n    op: contains\n",
			want: []string{`rules.yaml:7: rule "bad-op": op: "contains" is not one of absent, present, equals, not_equals, in, matches`},
		},
		{
			name: "names_the_rule_with_a_bad_pointer",
			yaml: "rules:\n  - {id: p1, title: t, severity: low, pointer: packages/x, op: absent}\n  - {id: p2, title: t, severity: low, pointer: /users/root, op: absent}\n  - {id: p3, title: t, severity: low, pointer: /packages, op: absent}\n  - {id: p4, title: t, severity: low, pointer: /packages/a~2, op: absent}\n",
			want: []string{
				`rules.yaml:2: rule "p1": pointer: "packages/x" is not a JSON pointer`,
				`rules.yaml:3: rule "p2": pointer: "/users/root" must point below /packages, /services or /firmware`,
				`rules.yaml:4: rule "p3": pointer: "/packages" must point below`,
				`rules.yaml:5: rule "p4": pointer: "/packages/a~2" is not a JSON pointer`,
			},
		},
		{
			name: "names_a_bad_regular_expression",
			yaml: "rules:\n  - {id: re, title: t, severity: low, pointer: /packages/x, op: matches, value: '(['}\n",
			want: []string{`rules.yaml:2: rule "re": value: error parsing regexp`},
		},
		{
			name: "reports_every_problem_of_a_rule",
			yaml: "rules:\n  - {id: Bad_ID, severity: urgent, pointer: /packages/x, op: equals, values: [a]}\n",
			want: []string{"id: must be lower case", "title: required", `severity: "urgent" is not one of`, "value: required for op equals", "values: op equals takes value"},
		},
		{
			name: "refuses_operands_an_operator_does_not_take",
			yaml: "rules:\n  - {id: a, title: t, severity: low, pointer: /packages/x, op: absent, value: x}\n  - {id: b, title: t, severity: low, pointer: /packages/x, op: in}\n  - {id: c, title: t, severity: low, pointer: /packages/x, op: in, values: [a], value: b}\n",
			want: []string{`rule "a": op absent takes no value`, `rule "b": values: required for op in`, `rule "c": value: op in takes values`},
		},
		{
			name: "refuses_a_repeated_id",
			yaml: "rules:\n  - {id: a, title: t, severity: low, pointer: /packages/x, op: absent}\n  - {id: a, title: t, severity: low, pointer: /packages/y, op: absent}\n",
			want: []string{`rules.yaml:3: rule "a": id: also used at rules.yaml:2`},
		},
		{
			name: "refuses_an_empty_file",
			yaml: "# nothing\n",
			want: []string{"rules.yaml: no rules"},
		},
		{
			name: "refuses_a_second_document",
			yaml: "rules:\n  - {id: a, title: t, severity: low, pointer: /packages/x, op: absent}\n---\nrules: []\n",
			want: []string{"rules.yaml: one YAML document expected"},
		},
		{
			name: "names_the_line_of_a_wrong_type",
			yaml: "rules:\n  - id: a\n    values: x\n",
			want: []string{"rules.yaml:3: cannot unmarshal"},
		},
		{
			name: "passes_on_the_position_of_a_syntax_error",
			yaml: "rules:\n  - id: a\n   title: t\n",
			want: []string{"rules.yaml:1: did not find expected '-' indicator"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ansible.LoadRules([]byte(tt.yaml), "rules.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestShippedComplianceRulesLoad(t *testing.T) {
	t.Parallel()
	rules := shippedRules(t)
	if n := rules.Len(); n < 5 || n > 8 {
		t.Errorf("%d shipped rules, want 5 to 8", n)
	}
	got := rules.Evaluate(ruleState)
	if len(got) != rules.Len() {
		t.Errorf("over a full state %d of %d rules were evaluated: %v", len(got), rules.Len(), got)
	}
	// ruleState has openssh-server but neither telnet nor nftables, and a stopped auditd.
	want := map[string]ansible.Outcome{
		"cis-no-telnet-client": ansible.OutcomePass, "cis-nftables-installed": ansible.OutcomeFail,
		"cis-auditd-active": ansible.OutcomeFail, "cis-auditd-enabled": ansible.OutcomeFail,
		"site-openssh-server-installed": ansible.OutcomePass,
	}
	for id, o := range want {
		if got[id] != o {
			t.Errorf("%s: %q, want %q", id, got[id], o)
		}
	}
}
