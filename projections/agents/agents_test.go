package agents_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

var at = time.Date(2026, 2, 22, 12, 0, 0, 0, time.UTC)

// env is an agents model fed by a runner over an in-memory store.
type env struct {
	t      *testing.T
	store  *memstore.Store
	path   string
	runner *projections.Runner
	model  *agents.Model
	stop   func()
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, store: memstore.New(), path: filepath.Join(t.TempDir(), "p.db")}
	e.start()
	t.Cleanup(func() { e.stop() })
	return e
}

func (e *env) start() {
	e.t.Helper()
	e.model = agents.New()
	r, err := projections.New(projections.Config{Path: e.path}, projections.Deps{Store: e.store, Logger: zap.NewNop()}, e.model)
	if err != nil {
		e.t.Fatal(err)
	}
	e.runner = r
	ctx, cancel := context.WithCancel(e.t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("run: %v", err)
		}
		_ = r.Close()
	}
}

// record appends a fact under id (so the same id twice is one event) and waits for the model.
func (e *env) record(id, subject string, f event.Fact) {
	e.t.Helper()
	rec := event.Record{ID: event.DeriveID("agents-test", id), Subject: subject, Time: at, Fact: f}
	ev, stream, err := rec.StoreEvent()
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.store.Append(e.t.Context(), stream, eventstore.Any, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), 5*time.Second)
	defer cancel()
	if err := e.runner.WaitFor(ctx, res.Position); err != nil {
		e.t.Fatal(err)
	}
}

func enrolled(id, key string, cis ...string) event.AgentEnrolled_v1 {
	return event.AgentEnrolled_v1{AgentID: id, CIIDs: cis, Algorithm: event.KeyAlgorithmEd25519, PublicKey: key, EnrolledAt: at}
}

func rejected(agent, ci string, reason event.RejectReason, n int) event.ObservationRejected_v1 {
	return event.ObservationRejected_v1{CIID: ci, AgentID: agent, Reason: reason, Detail: "test", MessageID: fmt.Sprint("m", n), RejectedAt: at.Add(time.Duration(n) * time.Second)}
}

func TestModelServesCredentialsAndTheirRejections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, found, _ := e.model.Credential(t.Context(), "web-01"); found {
		t.Fatal("an agent before enrolment")
	}
	e.record("e1", "web-01", enrolled("web-01", "key-1", "web-01"))
	e.record("r1", "web-02", rejected("web-01", "web-02", event.RejectForeignCI, 1))
	e.record("r1", "web-02", rejected("web-01", "web-02", event.RejectForeignCI, 1)) // the same fact again
	e.record("r2", "db-01", rejected("ghost", "db-01", event.RejectUnknownAgent, 2))
	// Key rotation replaces the credential and keeps the count.
	e.record("e2", "web-01", enrolled("web-01", "key-2", "web-01", "web-01b"))
	c, found, err := e.model.Credential(t.Context(), "web-01")
	if err != nil || !found || c.PublicKey != "key-2" || !c.Allows("web-01b") {
		t.Fatalf("credential %+v (%v, %v)", c, found, err)
	}
	a, found, err := e.model.Agent("web-01")
	if err != nil || !found || a.Rejected != 1 || a.LastRejection != event.RejectForeignCI || !a.LastRejectedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("agent %+v (%v, %v)", a, found, err)
	}
	rs, err := e.model.Rejections(10)
	if err != nil || len(rs) != 2 || rs[0].CIID != "db-01" || rs[1].CIID != "web-02" {
		t.Fatalf("rejections %+v (%v), want the newest first", rs, err)
	}
	if l, _ := e.model.Rejections(1); len(l) != 1 {
		t.Fatalf("limit 1 gave %d", len(l))
	}
}

func TestModelComesBackTheSameAfterRestartAndRebuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.record("e1", "web-01", enrolled("web-01", "key-1", "web-01"))
	e.record("r1", "web-02", rejected("web-01", "web-02", event.RejectForeignCI, 1))
	before, _ := e.model.Agents()
	e.stop()
	e.start()
	after, _ := e.model.Agents()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	if _, found, _ := e.model.Credential(t.Context(), "web-01"); !found {
		t.Fatal("the credential index was not loaded at open")
	}
	e.stop()
	cfg := projections.Config{Path: filepath.Join(t.TempDir(), "r.db")}
	deps := projections.Deps{Store: e.store, Logger: zap.NewNop()}
	if err := projections.Rebuild(t.Context(), cfg, deps, agents.New()); err != nil {
		t.Fatal(err)
	}
	rebuilt := agents.New()
	r, err := projections.New(cfg, deps, rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	again, _ := rebuilt.Agents()
	if fmt.Sprint(before) != fmt.Sprint(again) {
		t.Fatalf("rebuilt %+v, want %+v", again, before)
	}
}
