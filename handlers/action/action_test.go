package action_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func detected(actionType drift.ActionType, field, desired string) event.Message[event.DriftDetected_v1] {
	return event.Message[event.DriftDetected_v1]{ID: "in-1", Subject: "web-1", Fact: event.DriftDetected_v1{
		DriftID: "d-1", CIID: "web-1", CIType: "container", PolicyID: "p-1", Field: field,
		Desired: json.RawMessage(desired), ActionType: actionType,
	}}
}

func TestPlanner(t *testing.T) {
	t.Parallel()
	p, err := action.NewPlanner(action.PlannerDeps{Store: openStore(t), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   event.Message[event.DriftDetected_v1]
		want drift.ActionKind
	}{
		{"quarantines_for_a_quarantine_policy", detected(drift.ActionQuarantine, "/networks", `["lan"]`), drift.ActionKindQuarantine},
		{"quarantines_an_unmanaged_ci", detected(drift.ActionQuarantine, "", `null`), drift.ActionKindQuarantine},
		{"starts_a_ci_that_should_run", detected(drift.ActionAutoCorrect, "/power_state", `"running"`), drift.ActionKindStart},
		{"stops_a_ci_that_should_be_stopped", detected(drift.ActionAutoCorrect, "/power_state", `"stopped"`), drift.ActionKindStop},
		{"leaves_a_ci_that_should_be_paused", detected(drift.ActionAutoCorrect, "/power_state", `"paused"`), ""},
		{"leaves_other_fields_to_other_executors", detected(drift.ActionAutoCorrect, "/networks", `["lan"]`), ""},
		{"opens_a_change_request_for_manual_review", detected(drift.ActionManualReview, "/power_state", `"running"`), drift.ActionKindChangeRequest},
		{"asks_nothing_without_an_action", detected(drift.ActionNone, "/power_state", `"running"`), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := p.Handle(context.Background(), c.in)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if len(out) != 0 {
					t.Fatalf("asked for %+v", out)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("%d requests", len(out))
			}
			r := out[0].Fact.(event.ActionRequested_v1)
			if r.Kind != c.want || r.ActionID != event.ActionID("d-1", c.want) || out[0].Subject != "web-1" ||
				r.DriftID != "d-1" || r.RequestedBy != "policy" || out[0].ID != event.DeriveID("action-requested", r.ActionID) {
				t.Fatalf("request %+v", out[0])
			}
		})
	}
}

func request(kind drift.ActionKind, driftID string) event.Message[event.ActionRequested_v1] {
	id := event.ActionID(driftID, kind)
	return event.Message[event.ActionRequested_v1]{ID: event.DeriveID("action-requested", id), Subject: "web-1", Fact: event.ActionRequested_v1{
		ActionID: id, Kind: kind, CIID: "web-1", CIType: "container", DriftID: driftID, RequestedBy: "alice",
	}}
}

func newRunner(t *testing.T, exec *executor) (*action.Runner, func(recs ...event.Record)) {
	t.Helper()
	store := openStore(t)
	r, err := action.NewRunner(action.RunnerConfig{Attempts: 2}, store, exec, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return r, func(recs ...event.Record) { commit(t, store, recs...) }
}

func TestRunnerRecordsOutcomesAndPerformsASucceededActionOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	exec := &executor{results: []result{{out: action.Outcome{Changed: true, Target: "web (abc)", Networks: []string{"bridge", "lan"}, QuarantineNetwork: "q"}}}}
	r, commit := newRunner(t, exec)

	out, err := r.Handle(ctx, request(drift.ActionKindQuarantine, "d-1"))
	if err != nil || len(out) != 1 {
		t.Fatalf("%v %v", out, err)
	}
	s, ok := out[0].Fact.(event.ActionSucceeded_v1)
	if !ok || !s.Changed || !slices.Equal(s.Networks, []string{"bridge", "lan"}) || s.QuarantineNetwork != "q" || s.Target != "web (abc)" || out[0].Subject != "web-1" {
		t.Fatalf("records_the_outcome: %+v", out[0])
	}
	commit(out...)

	again, err := r.Handle(ctx, request(drift.ActionKindQuarantine, "d-1"))
	if err != nil || len(again) != 1 || again[0].ID != out[0].ID || len(exec.calls()) != 1 {
		t.Fatalf("replays_a_succeeded_action_without_performing_it: %v %v, %d calls", again, err, len(exec.calls()))
	}

	released, err := r.Handle(ctx, request(drift.ActionKindRelease, "d-1"))
	if err != nil || len(released) != 1 {
		t.Fatalf("%v %v", released, err)
	}
	if calls := exec.calls(); !slices.Equal(calls[1].Networks, []string{"bridge", "lan"}) {
		t.Fatalf("gives_a_release_the_recorded_networks: %+v", calls[1])
	}
	commit(released...)
	if _, err := r.Handle(ctx, request(drift.ActionKindRelease, "d-2")); err != nil {
		t.Fatal(err)
	}
	if calls := exec.calls(); len(calls[2].Networks) != 0 {
		t.Fatalf("gives_a_release_after_a_release_no_networks: %+v", calls[2])
	}
}

func TestRunnerRecordsFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	exec := &executor{results: []result{
		{err: fault.Permanent(errors.New("no container labelled io.driftwatch.ci=web-1"))},
		{err: errors.New("connection refused")},
		{err: errors.New("connection refused")},
	}}
	r, commit := newRunner(t, exec)

	out, err := r.Handle(ctx, request(drift.ActionKindStart, "d-1"))
	f, ok := first(out).(event.ActionFailed_v1)
	if err != nil || !ok || f.Retryable || f.Attempt != 1 || f.Reason == "" {
		t.Fatalf("records_a_permanent_failure_at_once: %+v %v", out, err)
	}
	commit(out...)

	if _, err := r.Handle(ctx, request(drift.ActionKindStart, "d-1")); err == nil || fault.IsPermanent(err) {
		t.Fatalf("lets_the_router_retry_a_retryable_failure: %v", err)
	}
	out2, err := r.Handle(ctx, request(drift.ActionKindStart, "d-1"))
	f2, ok := first(out2).(event.ActionFailed_v1)
	if err != nil || !ok || !f2.Retryable || f2.Attempt != 2 || out2[0].ID == out[0].ID {
		t.Fatalf("records_it_when_the_attempts_are_spent: %+v %v", out2, err)
	}
	commit(out2...)

	out3, err := r.Handle(ctx, request(drift.ActionKindStart, "d-1"))
	if _, ok := first(out3).(event.ActionSucceeded_v1); err != nil || !ok {
		t.Fatalf("performs_a_failed_action_again_when_asked_again: %+v %v", out3, err)
	}
}

func TestRunnerRefusesInvalidRequestsAndStopsOnShutdown(t *testing.T) {
	t.Parallel()
	exec := &executor{results: []result{{err: context.Canceled}}}
	r, _ := newRunner(t, exec)
	bad := request("reboot", "d-1")
	bad.Fact.CIID = ""
	if _, err := r.Handle(context.Background(), bad); !fault.IsPermanent(err) {
		t.Fatalf("refuses_an_invalid_request_permanently: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if out, err := r.Handle(ctx, request(drift.ActionKindStop, "d-1")); err == nil || len(out) != 0 {
		t.Fatalf("records_nothing_when_shutting_down: %v %v", out, err)
	}
	if _, err := action.NewRunner(action.RunnerConfig{Attempts: -1}, nil, nil, nil); err == nil {
		t.Fatal("refuses_missing_dependencies")
	}
	if _, err := action.NewPlanner(action.PlannerDeps{}); err == nil || !strings.Contains(err.Error(), "clock: required") {
		t.Fatal("refuses_a_missing_clock")
	}
}

func first(recs []event.Record) event.Fact {
	if len(recs) != 1 {
		return nil
	}
	return recs[0].Fact
}

func TestRunnerDoesNotPerformAPolicysActionOnAResolvedDrift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	exec := &executor{}
	r, commit := newRunner(t, exec)
	commit(
		event.Record{ID: event.DeriveID("t", "detected"), Subject: "web-1", Fact: event.DriftDetected_v1{DriftID: "d-9", CIID: "web-1", Field: "/networks"}},
		event.Record{ID: event.DeriveID("t", "resolved"), Subject: "web-1", Fact: event.DriftResolved_v1{DriftID: "d-9", CIID: "web-1", Field: "/networks"}},
	)
	byPolicy := request(drift.ActionKindQuarantine, "d-9")
	byPolicy.Fact.RequestedBy = action.RequestedByPolicy
	out, err := r.Handle(ctx, byPolicy)
	f, ok := first(out).(event.ActionFailed_v1)
	if err != nil || !ok || f.Retryable || len(exec.calls()) != 0 {
		t.Fatalf("records_it_as_not_performed: %+v %v, %d calls", out, err, len(exec.calls()))
	}
	if _, err := r.Handle(ctx, request(drift.ActionKindQuarantine, "d-9")); err != nil || len(exec.calls()) != 1 {
		t.Fatalf("performs_a_persons_request_all_the_same: %v, %d calls", err, len(exec.calls()))
	}
}

func TestPlanAll(t *testing.T) {
	t.Parallel()
	base := event.DriftDetected_v1{DriftID: "d-1", CIID: "files-1", PolicyID: "p", Field: "/files/motd", Desired: json.RawMessage(`"x"`)}
	cases := []struct {
		name   string
		change func(*event.DriftDetected_v1)
		want   []drift.ActionKind
	}{
		{"opens_a_change_request_and_runs_the_playbook", func(d *event.DriftDetected_v1) {
			d.ActionType, d.Script, d.AutoRemediate, d.AutoChangeRequest = drift.ActionAutoCorrect, "restore-file", true, true
		}, []drift.ActionKind{drift.ActionKindChangeRequest, drift.ActionKindPlaybook}},
		{"runs_the_cards_script", func(d *event.DriftDetected_v1) {
			d.ActionType, d.Script = drift.ActionAutoCorrect, "fix"
		}, []drift.ActionKind{drift.ActionKindScript}},
		{"only_opens_a_change_request_without_a_remediation", func(d *event.DriftDetected_v1) {
			d.ActionType, d.AutoChangeRequest = drift.ActionNone, true
		}, []drift.ActionKind{drift.ActionKindChangeRequest}},
		{"does_nothing_in_detect_only_mode", func(d *event.DriftDetected_v1) {
			d.ActionType, d.Script, d.AutoRemediate, d.AutoChangeRequest, d.DetectOnly = drift.ActionAutoCorrect, "restore-file", true, true, true
		}, nil},
	}
	p, err := action.NewPlanner(action.PlannerDeps{Store: openStore(t), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := base
			c.change(&d)
			out, err := p.Handle(context.Background(), event.Message[event.DriftDetected_v1]{ID: "in", Fact: d})
			if err != nil {
				t.Fatal(err)
			}
			var got []drift.ActionKind
			for _, r := range out {
				a := r.Fact.(event.ActionRequested_v1)
				got = append(got, a.Kind)
				if a.Kind.Remediates() && (a.Attempt != 1 || (a.Kind != drift.ActionKindStart && a.Target != d.Script)) {
					t.Errorf("remediation request %+v", a)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("planned %v, want %v", got, c.want)
			}
		})
	}
}

func TestPlanner_marks_a_drift_observed_during_its_cis_remediation_planned(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	attempt := event.AttemptID("d-0", drift.ActionKindPlaybook, 1)
	cr := event.ActionID("d-0", drift.ActionKindChangeRequest)
	commit(t, store,
		event.Record{ID: event.DeriveID("r0"), Subject: "web-1", Fact: event.ActionSucceeded_v1{ActionID: cr, Kind: drift.ActionKindChangeRequest, CIID: "web-1", DriftID: "d-0",
			Ticket: &event.TicketRef{Kind: "change_request", ID: "s", Number: "CHG0030007"}, CompletedAt: t0}},
		event.Record{ID: event.DeriveID("r1"), Subject: "web-1", Fact: event.ActionRequested_v1{ActionID: attempt, Kind: drift.ActionKindPlaybook, CIID: "web-1", DriftID: "d-0",
			Attempt: 1, RequestedBy: "policy", RequestedAt: t0}},
	)
	p, err := action.NewPlanner(action.PlannerDeps{Store: store, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	plan := func(id string, at time.Time) []event.Record {
		out, err := p.Handle(context.Background(), event.Message[event.DriftDetected_v1]{ID: "in-" + id, Fact: event.DriftDetected_v1{
			DriftID: id, CIID: "web-1", Field: "/files/hosts", ActionType: drift.ActionNone, DetectedAt: at}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := plan("d-1", t0.Add(time.Minute))
	if len(out) != 1 {
		t.Fatalf("planned %+v", out)
	}
	f, ok := out[0].Fact.(event.DriftPlanned_v1)
	if !ok || f.DriftID != "d-1" || f.Change != "CHG0030007" || f.ByDrift != "d-0" || f.ActionID != attempt {
		t.Fatalf("fact %+v", out[0].Fact)
	}
	if out := plan("d-2", t0.Add(-time.Minute)); len(out) != 0 {
		t.Fatalf("a drift observed before the remediation was asked for is planned: %+v", out)
	}
	commit(t, store, event.Record{ID: event.DeriveID("r2"), Subject: "web-1", Fact: event.ActionSucceeded_v1{ActionID: attempt, Kind: drift.ActionKindPlaybook,
		CIID: "web-1", DriftID: "d-0", Changed: true, Attempt: 1, CompletedAt: t0.Add(time.Minute)}})
	if out := plan("d-3", t0.Add(time.Minute+action.PlannedWindow+time.Second)); len(out) != 0 {
		t.Fatalf("a drift observed long after the remediation ended is planned: %+v", out)
	}
	if out := plan("d-4", t0.Add(2*time.Minute)); len(out) != 1 {
		t.Fatalf("a drift observed just after the remediation ended is not planned: %+v", out)
	}
}
