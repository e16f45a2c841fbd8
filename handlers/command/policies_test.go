package command_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestPoliciesRefuseABadPolicyWholeWithEveryReason(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	cmds := command.Policies{Store: store, Now: clock}
	bad := drift.Policy{ID: "p", CIType: "vm", Ignore: []string{"/files/*", "nope"},
		Exceptions:         []drift.Exception{{Field: "/power_state", Value: json.RawMessage(`"off"`), Ticket: "CHG1"}},
		MaintenanceWindows: []drift.Window{{Days: []string{"sat"}, Start: "02:00"}}}
	_, _, err := cmds.Create(t.Context(), bad)
	inv, ok := fault.AsInvalid(err)
	if !ok {
		t.Fatalf("create: %v, want an invalid policy", err)
	}
	for _, f := range []string{"ignore[1]:", "exceptions[0].expires_at:", "exceptions[0].reason:", "maintenance_windows[0].duration:"} {
		if !strings.Contains(inv.Err.Error(), f) {
			t.Errorf("refusal does not name %s: %v", f, inv.Err)
		}
	}
	if _, found, _ := store.ReadLast(t.Context(), "policy-p"); found {
		t.Fatal("a refused policy was recorded")
	}

	good := bad
	good.Ignore = []string{"/files/*"}
	good.Exceptions[0].ExpiresAt, good.Exceptions[0].Reason = at.Add(time.Hour), "parked"
	good.MaintenanceWindows[0].Duration = "2h"
	if _, _, err := cmds.Create(t.Context(), good); err != nil {
		t.Fatalf("create: %v", err)
	}
	_, _, err = cmds.Patch(t.Context(), "p", func(p drift.Policy) (drift.Policy, error) {
		p.Rules = []drift.FieldRule{{Field: "/files/*", Severity: "dire"}}
		return p, nil
	})
	if inv, ok := fault.AsInvalid(err); !ok || !strings.Contains(inv.Err.Error(), "rules[0].severity:") {
		t.Fatalf("patch to a bad rule: %v", err)
	}
}
