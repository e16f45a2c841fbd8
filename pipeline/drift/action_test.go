package drift_test

import (
	"encoding/json"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

func TestRemedy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   drift.Remedy
		want drift.ActionKind
	}{
		{"quarantines_for_a_quarantine_policy", drift.Remedy{ActionType: drift.ActionQuarantine, Field: "/networks"}, drift.ActionKindQuarantine},
		{"runs_the_playbook_the_script_names_with_auto_remediate", drift.Remedy{ActionType: drift.ActionAutoCorrect, Script: "restore-file", AutoRemediate: true, Field: "/files/motd"}, drift.ActionKindPlaybook},
		{"runs_the_cards_script_without_auto_remediate", drift.Remedy{ActionType: drift.ActionAutoCorrect, Script: "fix-motd", Field: "/files/motd"}, drift.ActionKindScript},
		{"starts_a_ci_that_should_run_without_a_script", drift.Remedy{ActionType: drift.ActionAutoCorrect, Field: "/power_state", Desired: json.RawMessage(`"running"`)}, drift.ActionKindStart},
		{"has_nothing_for_another_field_without_a_script", drift.Remedy{ActionType: drift.ActionAutoCorrect, AutoRemediate: true, Field: "/files/motd"}, ""},
		{"has_nothing_for_manual_review", drift.Remedy{ActionType: drift.ActionManualReview, Script: "x", AutoRemediate: true}, ""},
		{"has_nothing_without_an_action", drift.Remedy{ActionType: drift.ActionNone, Script: "x", AutoRemediate: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.in.Remediation()
			if c.want == "" {
				if err == nil {
					t.Fatalf("remedy %s, want none", got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("remedy %q, %v; want %s", got, err, c.want)
			}
			if !got.Valid() {
				t.Fatalf("%s is not a valid kind", got)
			}
		})
	}
}

func TestActionKindPredicates(t *testing.T) {
	t.Parallel()
	for _, k := range drift.ActionKinds {
		if k.Remediates() && k.Ticket() {
			t.Errorf("%s both remediates and is a ticket", k)
		}
	}
	if !drift.ActionKindPlaybook.Remediates() || drift.ActionKindQuarantine.Remediates() || !drift.ActionKindTicketClose.Ticket() {
		t.Error("predicates are wrong")
	}
}
