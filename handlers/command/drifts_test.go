package command_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// appendFact records a fact in its stream, as the pipeline would.
func appendFact(t *testing.T, store eventstore.Store, id, subject string, f event.Fact) eventstore.Position {
	t.Helper()
	ev, stream, err := event.Record{ID: event.DeriveID("test", id), Subject: subject, Time: at, Fact: f}.StoreEvent()
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Append(t.Context(), stream, eventstore.Any, ev)
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

// opened records a drift on ci's field under a policy asking for actionType.
func opened(t *testing.T, store eventstore.Store, id, ci, field, desired string, actionType drift.ActionType) {
	t.Helper()
	appendFact(t, store, id, ci, event.DriftDetected_v1{
		DriftID: id, CIID: ci, CIType: "container", PolicyID: "p", Field: field, Desired: json.RawMessage(desired),
		Actual: json.RawMessage(`"x"`), Category: drift.CategoryState, Severity: drift.SeverityHigh, ActionType: actionType, DetectedAt: at,
	})
}

func resolved(t *testing.T, store eventstore.Store, id, ci, field string) {
	t.Helper()
	appendFact(t, store, id+"-resolved", ci, event.DriftResolved_v1{DriftID: id, CIID: ci, Field: field, Reason: "matches", ResolvedAt: at})
}

func TestAcknowledgements(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	opened(t, store, "d1", "web", "/power_state", `"running"`, drift.ActionNone)
	opened(t, store, "d2", "web", "/image", `"nginx"`, drift.ActionNone)
	resolved(t, store, "d2", "web", "/image")
	acks := command.Acknowledgements{Store: store, Now: clock}

	rec, err := acks.Acknowledge(t.Context(), "web", "d1", "alice", "known")
	f, ok := rec.Fact.(event.DriftAcknowledged_v1)
	if err != nil || !ok || f.By != "alice" || f.Comment != "known" || rec.Position == 0 {
		t.Fatalf("records_the_acknowledgement: %+v, %v", rec, err)
	}
	again, err := acks.Acknowledge(t.Context(), "web", "d1", "bob", "")
	if err != nil || again.ID != rec.ID || again.Position != rec.Position {
		t.Fatalf("acknowledging_again_returns_the_first: %+v, %v", again, err)
	}
	if _, err := acks.Acknowledge(t.Context(), "web", "d2", "alice", ""); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("refuses_a_resolved_drift: %v", err)
	}
	if _, err := acks.Acknowledge(t.Context(), "web", "nope", "alice", ""); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("refuses_an_unknown_drift: %v", err)
	}
}

func TestActions(t *testing.T) {
	t.Parallel()

	t.Run("remediates_with_the_kind_the_policy_names_and_asks_again_only_after_a_failure", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		opened(t, store, "d1", "web", "/power_state", `"running"`, drift.ActionAutoCorrect)
		actions := command.Actions{Store: store, Now: clock}
		rec, done, err := actions.Remediate(t.Context(), "web", "d1", "alice", "now")
		req, _ := rec.Fact.(event.ActionRequested_v1)
		if err != nil || done != nil || req.Kind != drift.ActionKindStart || req.ActionID != event.ActionID("d1", drift.ActionKindStart) ||
			req.RequestedBy != "alice" || rec.Position == 0 {
			t.Fatalf("first request: %+v, %v, %v", rec, done, err)
		}
		pending, _, err := actions.Remediate(t.Context(), "web", "d1", "bob", "")
		if err != nil || pending.ID != rec.ID || pending.Position != rec.Position {
			t.Fatalf("a pending request is returned, not asked again: %+v, %v", pending, err)
		}
		appendFact(t, store, "f1", "web", event.ActionFailed_v1{ActionID: req.ActionID, Kind: req.Kind, CIID: "web", Attempt: 1, Reason: "daemon down", Retryable: true})
		retry, _, err := actions.Remediate(t.Context(), "web", "d1", "alice", "")
		if err != nil || retry.ID == rec.ID || retry.Position <= rec.Position {
			t.Fatalf("after a failure a new request: %+v, %v", retry, err)
		}
		appendFact(t, store, "s1", "web", event.ActionSucceeded_v1{ActionID: req.ActionID, Kind: req.Kind, CIID: "web", Changed: true})
		_, done, err = actions.Remediate(t.Context(), "web", "d1", "alice", "")
		if err != nil || done == nil || done.Type != event.TypeActionSucceeded {
			t.Fatalf("after a success its outcome: %v, %v", done, err)
		}
		head, _, _ := store.ReadLast(t.Context(), event.ActionStreamPrefix+"web")
		if head.Type != event.TypeActionSucceeded {
			t.Fatalf("a succeeded action was asked for again: last is %s", head.Type)
		}
	})

	t.Run("chooses_stop_and_quarantine", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		opened(t, store, "d1", "web", "/power_state", `"stopped"`, drift.ActionAutoCorrect)
		opened(t, store, "d2", "web", "/networks", `["lan"]`, drift.ActionQuarantine)
		actions := command.Actions{Store: store, Now: clock}
		for id, want := range map[string]drift.ActionKind{"d1": drift.ActionKindStop, "d2": drift.ActionKindQuarantine} {
			rec, _, err := actions.Remediate(t.Context(), "web", id, "", "")
			if req, _ := rec.Fact.(event.ActionRequested_v1); err != nil || req.Kind != want || req.RequestedBy != "api" {
				t.Fatalf("%s: %+v, %v; want %s", id, rec, err, want)
			}
		}
	})

	t.Run("runs_the_policys_playbook_or_script", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		for id, remediate := range map[string]bool{"pb": true, "sc": false} {
			appendFact(t, store, id, "files", event.DriftDetected_v1{
				DriftID: id, CIID: "files", PolicyID: "p", Field: "/files/motd", Desired: json.RawMessage(`"hi"`), Actual: json.RawMessage(`"x"`),
				Category: drift.CategoryConfiguration, Severity: drift.SeverityHigh, ActionType: drift.ActionAutoCorrect,
				Script: "restore-file", AutoRemediate: remediate, DetectedAt: at,
			})
		}
		actions := command.Actions{Store: store, Now: clock}
		for id, want := range map[string]drift.ActionKind{"pb": drift.ActionKindPlaybook, "sc": drift.ActionKindScript} {
			rec, _, err := actions.Remediate(t.Context(), "files", id, "", "")
			if req, _ := rec.Fact.(event.ActionRequested_v1); err != nil || req.Kind != want || req.Target != "restore-file" {
				t.Fatalf("%s: %+v, %v; want %s of restore-file", id, rec, err, want)
			}
		}
	})

	t.Run("refuses_drifts_without_a_remediation_resolved_or_unknown_saying_why", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		opened(t, store, "none", "web", "/power_state", `"running"`, drift.ActionNone)
		opened(t, store, "review", "web", "/image", `"nginx"`, drift.ActionManualReview)
		opened(t, store, "file", "web", "/files/etc~1hosts", `"a"`, drift.ActionAutoCorrect)
		opened(t, store, "gone", "db", "/power_state", `"running"`, drift.ActionAutoCorrect)
		resolved(t, store, "gone", "db", "/power_state")
		appendFact(t, store, "watch", "web", event.DriftDetected_v1{
			DriftID: "watch", CIID: "web", PolicyID: "watch-only", Field: "/power_state", Desired: json.RawMessage(`"running"`),
			Actual: json.RawMessage(`"exited"`), Category: drift.CategoryState, Severity: drift.SeverityHigh,
			ActionType: drift.ActionNone, DetectOnly: true, DetectedAt: at, // as the policy stage writes it
		})
		actions := command.Actions{Store: store, Now: clock}
		for id, why := range map[string]string{"none": "action_type none", "review": "manual_review", "file": "only /power_state", "watch": `policy "watch-only", which is detect-only`} {
			_, _, err := actions.Remediate(t.Context(), "web", id, "", "")
			if !errors.Is(err, fault.ErrConflict) || !strings.Contains(err.Error(), why) {
				t.Fatalf("%s: %v; want a conflict saying %q", id, err, why)
			}
		}
		if _, _, err := actions.Remediate(t.Context(), "db", "gone", "", ""); !errors.Is(err, fault.ErrConflict) || !strings.Contains(err.Error(), "resolved") {
			t.Fatalf("resolved: %v", err)
		}
		if _, _, err := actions.Request(t.Context(), "db", "gone", drift.ActionKindQuarantine, "", ""); !errors.Is(err, fault.ErrConflict) {
			t.Fatalf("quarantine for a resolved drift: %v", err)
		}
		if _, _, err := actions.Request(t.Context(), "db", "gone", drift.ActionKindRelease, "", ""); err != nil {
			t.Fatalf("a release for a resolved drift is fine: %v", err)
		}
		if _, _, err := actions.Remediate(t.Context(), "web", "nope", "", ""); !errors.Is(err, fault.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		if last, found, _ := store.ReadLast(t.Context(), event.ActionStreamPrefix+"web"); found {
			t.Fatalf("a refused remediation recorded %s", last.Type)
		}
	})
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	cmds := command.Policies{Store: openStore(t), Now: clock}
	p, _, err := cmds.Create(t.Context(), drift.Policy{ID: "vm", CIType: "vm"})
	if err != nil || p.Version != 1 || p.DriftThreshold != 1 {
		t.Fatalf("creates_with_defaults_as_version_1: %+v, %v", p, err)
	}
	if _, _, err := cmds.Create(t.Context(), drift.Policy{ID: "vm", CIType: "vm"}); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("refuses_an_existing_id: %v", err)
	}
	p, pos, err := cmds.Patch(t.Context(), "vm", func(cur drift.Policy) (drift.Policy, error) {
		cur.Severity = drift.SeverityCritical
		return cur, nil
	})
	if err != nil || p.Version != 2 || p.Severity != drift.SeverityCritical || pos == 0 {
		t.Fatalf("patches_as_the_next_version: %+v, %v", p, err)
	}
	_, _, err = cmds.Patch(t.Context(), "vm", func(cur drift.Policy) (drift.Policy, error) {
		cur.ID, cur.DriftThreshold = "other", -1
		return cur, nil
	})
	if inv, ok := fault.AsInvalid(err); !ok || !strings.Contains(inv.Err.Error(), "id: must stay") {
		t.Fatalf("refuses_a_changed_id: %v", err)
	}
	_, _, err = cmds.Patch(t.Context(), "vm", func(cur drift.Policy) (drift.Policy, error) {
		cur.DriftThreshold = -1
		return cur, nil
	})
	if inv, ok := fault.AsInvalid(err); !ok || !strings.Contains(inv.Err.Error(), "drift_threshold") {
		t.Fatalf("names_a_bad_field: %v", err)
	}
	bad := errors.New("the patch does not apply")
	if _, _, err := cmds.Patch(t.Context(), "vm", func(drift.Policy) (drift.Policy, error) { return drift.Policy{}, bad }); !errors.Is(err, bad) {
		t.Fatalf("returns_the_edit's_error: %v", err)
	}
	if _, _, err := cmds.Patch(t.Context(), "nope", func(cur drift.Policy) (drift.Policy, error) { return cur, nil }); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("refuses_an_unknown_id: %v", err)
	}
}
