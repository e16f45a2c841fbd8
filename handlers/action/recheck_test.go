package action_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// emitter is a fake Emitter that keeps what it is given.
type emitter struct {
	mu   sync.Mutex
	recs []event.Record
}

func (e *emitter) Emit(_ context.Context, recs ...event.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recs = append(e.recs, recs...)
	return nil
}

func (e *emitter) requests() []event.ActionRequested_v1 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []event.ActionRequested_v1
	for _, r := range e.recs {
		if f, ok := r.Fact.(event.ActionRequested_v1); ok {
			out = append(out, f)
		}
	}
	return out
}

func TestRechecker_tries_again_when_no_verdict_confirms_a_remediation_in_time(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	life, err := action.NewLifecycle(action.LifecycleConfig{}, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	em := &emitter{}
	r, err := action.NewRechecker(action.RecheckerConfig{After: 100 * time.Millisecond},
		action.RecheckerDeps{Store: store, Lifecycle: life, Emitter: em, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for _, id := range []string{"d-1", "d-2"} {
		commit(t, store, event.Record{ID: event.DeriveID("detected", id), Subject: "web-1", Fact: event.DriftDetected_v1{
			DriftID: id, CIID: "web-1", PolicyID: "p", Field: "/files/" + id, Desired: json.RawMessage(`"x"`),
			ActionType: drift.ActionAutoCorrect, Script: "stamp", AutoRemediate: true, DetectedAt: time.Now()}})
	}
	// d-2 resolves before its deadline: nothing more is asked for it.
	commit(t, store, event.Record{ID: event.DeriveID("resolved", "d-2"), Subject: "web-1", Fact: event.DriftResolved_v1{
		DriftID: "d-2", CIID: "web-1", Field: "/files/d-2", Reason: "matches", ResolvedAt: time.Now()}})
	for _, id := range []string{"d-1", "d-2"} {
		first := event.AttemptID(id, drift.ActionKindPlaybook, 1)
		commit(t, store,
			event.Record{ID: event.DeriveID("requested", id), Subject: "web-1", Fact: event.ActionRequested_v1{
				ActionID: first, Kind: drift.ActionKindPlaybook, CIID: "web-1", DriftID: id, Attempt: 1, RequestedBy: "policy", RequestedAt: time.Now()}},
			event.Record{ID: event.DeriveID("succeeded", id), Subject: "web-1", Fact: event.ActionSucceeded_v1{
				ActionID: first, Kind: drift.ActionKindPlaybook, CIID: "web-1", DriftID: id, Attempt: 1, Changed: true, CompletedAt: time.Now()}},
		)
	}

	deadline := time.Now().Add(5 * time.Second)
	for len(em.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // give a wrong request for d-2 the time to show
	reqs := em.requests()
	if len(reqs) != 1 || reqs[0].DriftID != "d-1" || reqs[0].Attempt != 2 || reqs[0].ActionID != event.AttemptID("d-1", drift.ActionKindPlaybook, 2) || reqs[0].Target != "stamp" {
		t.Fatalf("requests %+v, want attempt 2 for d-1 only", reqs)
	}
}

func TestRechecker_runs_a_deferred_remediation_when_its_window_opens(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	exec := &executor{}
	runner, err := action.NewRunner(action.RunnerConfig{}, store, exec, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	life, err := action.NewLifecycle(action.LifecycleConfig{}, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	em := &emitter{}
	r, err := action.NewRechecker(action.RecheckerConfig{}, action.RecheckerDeps{Store: store, Lifecycle: life, Emitter: em, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	opens := time.Now().Add(300 * time.Millisecond)
	commit(t, store, event.Record{ID: event.DeriveID("detected", "d-1"), Subject: "web-1", Fact: event.DriftDetected_v1{
		DriftID: "d-1", CIID: "web-1", PolicyID: "p", Field: "/files/motd", Desired: json.RawMessage(`"x"`),
		ActionType: drift.ActionAutoCorrect, Script: "restore-file", AutoRemediate: true, DetectedAt: time.Now(), ActAfter: opens}})
	planner, err := action.NewPlanner(action.PlannerDeps{Store: store, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	planned, err := planner.Handle(t.Context(), event.Message[event.DriftDetected_v1]{ID: "in", Fact: event.DriftDetected_v1{
		DriftID: "d-1", CIID: "web-1", PolicyID: "p", Field: "/files/motd", ActionType: drift.ActionAutoCorrect,
		Script: "restore-file", AutoRemediate: true, DetectedAt: time.Now(), ActAfter: opens}})
	if err != nil || len(planned) != 1 {
		t.Fatalf("planned %+v, %v", planned, err)
	}
	req := planned[0].Fact.(event.ActionRequested_v1)
	if !req.NotBefore.Equal(opens.UTC()) {
		t.Fatalf("the request does not wait for the window: %+v", req)
	}
	commit(t, store, planned[0])
	if out, err := runner.Handle(t.Context(), event.Message[event.ActionRequested_v1]{ID: planned[0].ID, Fact: req}); err != nil || len(out) != 0 || len(exec.calls()) != 0 {
		t.Fatalf("before its window the request ran: %+v, %v, %d calls", out, err, len(exec.calls()))
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for len(em.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	again := em.requests()
	if len(again) != 1 || again[0].ActionID != req.ActionID || time.Now().Before(opens) {
		t.Fatalf("asked again %+v", again)
	}
	out, err := runner.Handle(t.Context(), event.Message[event.ActionRequested_v1]{ID: "again", Fact: again[0]})
	if err != nil || len(out) != 1 || len(exec.calls()) != 1 || exec.calls()[0].Target != "restore-file" {
		t.Fatalf("in its window: %+v, %v, calls %+v", out, err, exec.calls())
	}
}
