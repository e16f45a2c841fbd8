package drifts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// base is the time every fact of these tests is relative to.
var base = time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC)

// env is a drift model fed by a running projections.Runner over an in-memory store.
type env struct {
	t      *testing.T
	store  *bolt.Store
	runner *projections.Runner
	model  *drifts.Model
	n      int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(t.TempDir(), "events")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e := &env{t: t, store: store, model: drifts.New()}
	r, err := projections.New(projections.Config{Path: filepath.Join(t.TempDir(), "p.db")},
		projections.Deps{Store: e.store, Logger: zap.NewNop()}, e.model)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	e.runner = r
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		_ = r.Close()
	})
	return e
}

// record appends facts and waits until the model has applied them.
func (e *env) record(facts ...event.Fact) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	var pos eventstore.Position
	for _, f := range facts {
		e.n++
		subject := ""
		switch f := f.(type) {
		case event.ObservationReceived_v1:
			subject = f.CIID
		case event.DriftDetected_v1:
			subject = f.CIID
		case event.DriftAcknowledged_v1:
			subject = f.CIID
		case event.DriftResolved_v1:
			subject = f.CIID
		case event.DriftEscalated_v1:
			subject = f.CIID
		case event.DriftPlanned_v1:
			subject = f.CIID
		case event.ActionRequested_v1:
			subject = f.CIID
		case event.ActionSucceeded_v1:
			subject = f.CIID
		}
		rec := event.Record{ID: event.DeriveID("drifts-test", fmt.Sprint(e.n)), Subject: subject, Time: base, Fact: f}
		ev, stream, err := rec.StoreEvent()
		if err != nil {
			e.t.Fatalf("store event: %v", err)
		}
		res, err := e.store.Append(ctx, stream, eventstore.Any, ev)
		if err != nil {
			e.t.Fatalf("append: %v", err)
		}
		pos = res.Position
	}
	if err := e.runner.WaitFor(ctx, pos); err != nil {
		e.t.Fatalf("wait for %d: %v", pos, err)
	}
}

// detected is a drift on ci's field, detected minutes after base.
func detected(id, ci, field string, sev drift.Severity, minutes int) event.DriftDetected_v1 {
	return event.DriftDetected_v1{
		DriftID: id, CIID: ci, CIType: "vm", TemplateID: "t1", PolicyID: "p1", ObservationID: "obs-" + id,
		Field: field, Desired: json.RawMessage(`"on"`), Actual: json.RawMessage(`"off"`),
		Patch:    json.RawMessage(`[{"op":"replace","path":"` + field + `","value":"off"}]`),
		Category: drift.CategoryState, Severity: sev, DetectedAt: base.Add(time.Duration(minutes) * time.Minute),
	}
}

func acked(id, ci, by string) event.DriftAcknowledged_v1 {
	return event.DriftAcknowledged_v1{DriftID: id, CIID: ci, By: by, Comment: "looking", AcknowledgedAt: base.Add(time.Hour)}
}

func resolved(id, ci string) event.DriftResolved_v1 {
	return event.DriftResolved_v1{DriftID: id, CIID: ci, ObservationID: "obs-fix", Reason: "field matches the desired state", ResolvedAt: base.Add(2 * time.Hour)}
}

func observed(id, ci, state string, minutes int) event.ObservationReceived_v2 {
	h, _ := drift.Hash(json.RawMessage(state))
	return event.ObservationReceived_v2{ReceivedAt: base, Observed: event.Observed{
		ObservationID: id, CIID: ci, CIType: "vm", TemplateID: "t1", Source: "agent",
		ObservedAt: base.Add(time.Duration(minutes) * time.Minute), StateHash: h,
	}}
}

// mustGet returns a drift that must exist.
func (e *env) mustGet(id string) drifts.Drift {
	e.t.Helper()
	d, ok, err := e.model.Get(id)
	if err != nil || !ok {
		e.t.Fatalf("get %s: found %v, error %v", id, ok, err)
	}
	return d
}

// mustCI returns a CI that must exist.
func (e *env) mustCI(id string) drifts.CI {
	e.t.Helper()
	ci, ok, err := e.model.CI(id)
	if err != nil || !ok {
		e.t.Fatalf("ci %s: found %v, error %v", id, ok, err)
	}
	return ci
}
