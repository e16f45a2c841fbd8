package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/diff"
	"github.com/driftwatch/driftwatch/handlers/emit"
	"github.com/driftwatch/driftwatch/handlers/policy"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
)

// wednesday is the chain's first clock: Wednesday 2026-03-04 12:00 UTC.
var wednesday = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// chain is the real diff, policy, emit and action-planner stages in a row over a real
// embedded event store, with one policy, one clock and states in memory.
type chain struct {
	t       *testing.T
	mu      sync.Mutex
	policy  drift.Policy
	now     time.Time
	states  map[string]json.RawMessage
	diff    *diff.Diff
	verdict *policy.Policy
	emit    *emit.Emit
	planner *action.Planner
	n       int
}

func (c *chain) PolicyFor(context.Context, string, string, string, eventstore.Position) (drift.Policy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policy, nil
}

func (c *chain) Get(_ context.Context, hash string) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.states[hash]; ok {
		return s, nil
	}
	return nil, errors.New("unknown state " + hash)
}

func (c *chain) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func newChain(t *testing.T, p drift.Policy) *chain {
	t.Helper()
	store, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c := &chain{t: t, policy: p, now: wednesday, states: map[string]json.RawMessage{}}
	if c.diff, err = diff.New(diff.Config{}, diff.Deps{Policies: c, States: c, Now: c.clock}); err != nil {
		t.Fatal(err)
	}
	if c.verdict, err = policy.New(c.clock); err != nil {
		t.Fatal(err)
	}
	if c.emit, err = emit.New(emit.Config{}, emit.Deps{Store: store, Now: c.clock}); err != nil {
		t.Fatal(err)
	}
	if c.planner, err = action.NewPlanner(action.PlannerDeps{Store: store, Now: c.clock}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *chain) put(doc string) string {
	h, err := drift.Hash(json.RawMessage(doc))
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states[h] = json.RawMessage(doc)
	return h
}

// outcome is what one observation led to.
type outcome struct {
	verdict  event.PolicyEvaluated_v2
	detected []event.DriftDetected_v1
	resolved []event.DriftResolved_v1
	actions  []event.ActionRequested_v1
}

// observe sends one observation of vm-1 in state actual, desired state desired, through
// every stage at the chain's clock.
func (c *chain) observe(desired, actual string) outcome {
	c.t.Helper()
	ctx := c.t.Context()
	c.n++
	o := event.Observed{ObservationID: fmt.Sprint("obs-", c.n), CIID: "vm-1", CIType: "vm", ObservedAt: c.clock(), StateHash: c.put(actual)}
	in := event.Message[event.DesiredStateResolved_v2]{ID: event.DeriveID("resolved", o.ObservationID), Subject: "vm-1",
		Fact: event.DesiredStateResolved_v2{Observed: o, Managed: true, Desired: event.DesiredRef{Source: "template", TemplateID: "vm", Version: 1, Hash: c.put(desired)}}}
	diffs := c.must(c.diff.Handle(ctx, in))
	verdicts := c.must(c.verdict.Handle(ctx, next[event.DiffComputed_v2](diffs[0])))
	var out outcome
	out.verdict = verdicts[0].Fact.(event.PolicyEvaluated_v2)
	for _, r := range c.must(c.emit.Handle(ctx, next[event.PolicyEvaluated_v2](verdicts[0]))) {
		switch f := r.Fact.(type) {
		case event.DriftDetected_v1:
			out.detected = append(out.detected, f)
			for _, a := range c.must(c.planner.Handle(ctx, next[event.DriftDetected_v1](r))) {
				out.actions = append(out.actions, a.Fact.(event.ActionRequested_v1))
			}
		case event.DriftResolved_v1:
			out.resolved = append(out.resolved, f)
		}
	}
	return out
}

func next[F event.Fact](r event.Record) event.Message[F] {
	return event.Message[F]{ID: r.ID, Subject: r.Subject, Time: r.Time, Fact: r.Fact.(F)}
}

func (c *chain) must(recs []event.Record, err error) []event.Record {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return recs
}

const (
	running = `{"power_state":"running","interfaces":[{"name":"eth0","mtu":1500}]}`
	stopped = `{"power_state":"stopped","interfaces":[{"name":"eth0","mtu":1500}]}`
	jumbo   = `{"power_state":"running","interfaces":[{"name":"eth0","mtu":9000}]}`
)

func quarantinePolicy() drift.Policy {
	return drift.Policy{ID: "p1", CIType: "vm", Version: 1, ActionType: drift.ActionQuarantine, AutoChangeRequest: true, AutoRemediate: true}
}

func TestStagesHonourThePolicy(t *testing.T) {
	t.Parallel()

	t.Run("an_expired_exception_stops_suppressing", func(t *testing.T) {
		t.Parallel()
		p := quarantinePolicy()
		p.Exceptions = []drift.Exception{{Field: "/power_state", Value: json.RawMessage(`"stopped"`),
			ExpiresAt: wednesday.Add(time.Hour), Ticket: "CHG0042", Reason: "stopped for the migration"}}
		c := newChain(t, p)
		if got := c.observe(running, stopped); len(got.detected) != 0 || len(got.actions) != 0 || len(got.verdict.Excepted) != 1 {
			t.Fatalf("before expiry: %d drifts, %d actions, excepted %+v", len(got.detected), len(got.actions), got.verdict.Excepted)
		}
		c.now = wednesday.Add(time.Hour)
		got := c.observe(running, stopped)
		kinds := map[drift.ActionKind]bool{}
		for _, a := range got.actions {
			kinds[a.Kind] = true
		}
		// auto_change_request opens a change request beside the quarantine.
		if len(got.detected) != 1 || got.detected[0].Field != "/power_state" || !kinds[drift.ActionKindQuarantine] || !kinds[drift.ActionKindChangeRequest] {
			t.Fatalf("at expiry: drifts %+v actions %+v", got.detected, got.actions)
		}
	})

	t.Run("an_open_drift_resolves_as_excepted_once_an_exception_approves_it", func(t *testing.T) {
		t.Parallel()
		c := newChain(t, quarantinePolicy())
		if got := c.observe(running, stopped); len(got.detected) != 1 {
			t.Fatalf("no drift opened: %+v", got)
		}
		p := quarantinePolicy()
		p.Exceptions = []drift.Exception{{Field: "/power_state", Value: json.RawMessage(`"stopped"`),
			ExpiresAt: wednesday.Add(24 * time.Hour), Ticket: "CHG0042", Reason: "approved"}}
		c.policy = p
		c.now = wednesday.Add(time.Minute)
		got := c.observe(running, stopped)
		if len(got.resolved) != 1 || !strings.HasPrefix(got.resolved[0].Reason, "excepted by CHG0042") || len(got.detected) != 0 {
			t.Fatalf("resolved %+v detected %+v", got.resolved, got.detected)
		}
	})

	t.Run("detect_only_never_acts", func(t *testing.T) {
		t.Parallel()
		p := quarantinePolicy()
		p.DetectOnly = true
		p.Notify = []string{"ops@example.com"}
		c := newChain(t, p)
		got := c.observe(running, stopped)
		if len(got.detected) != 1 || !got.detected[0].DetectOnly || got.detected[0].AutoChangeRequest || got.detected[0].AutoRemediate {
			t.Fatalf("detect-only drift: %+v", got.detected)
		}
		if len(got.detected[0].Notify) != 1 {
			t.Fatalf("notifications dropped: %+v", got.detected[0])
		}
		if len(got.actions) != 0 {
			t.Fatalf("detect-only asked for %+v", got.actions)
		}
	})

	t.Run("a_maintenance_window_delays_remediation", func(t *testing.T) {
		t.Parallel()
		p := quarantinePolicy()
		p.MaintenanceWindows = []drift.Window{{Days: []string{"sat"}, Start: "02:00", Duration: "2h"}}
		c := newChain(t, p)
		got := c.observe(running, stopped)
		saturday := time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)
		if !got.verdict.ActAfter.Equal(saturday) || len(got.detected) != 1 || !got.detected[0].ActAfter.Equal(saturday) {
			t.Fatalf("verdict act after %s, drifts %+v; want %s", got.verdict.ActAfter, got.detected, saturday)
		}
		c.now = saturday.Add(time.Hour)
		if got := c.observe(running, jumbo); !got.verdict.ActAfter.IsZero() {
			t.Fatalf("inside the window the verdict still waits until %s", got.verdict.ActAfter)
		}
	})

	t.Run("a_wildcard_ignore_and_a_rule_shape_what_opens", func(t *testing.T) {
		t.Parallel()
		p := quarantinePolicy()
		p.Ignore = []string{"/interfaces/*/mtu"}
		p.Rules = []drift.FieldRule{{Field: "/power_state", Severity: drift.SeverityCritical, Category: drift.CategoryState}}
		c := newChain(t, p)
		if got := c.observe(running, jumbo); len(got.detected) != 0 || len(got.verdict.Differs) != 0 {
			t.Fatalf("an ignored MTU opened %+v", got.detected)
		}
		got := c.observe(running, stopped)
		if len(got.detected) != 1 || got.detected[0].Severity != drift.SeverityCritical || got.detected[0].Category != drift.CategoryState {
			t.Fatalf("rule not applied: %+v", got.detected)
		}
	})
}
