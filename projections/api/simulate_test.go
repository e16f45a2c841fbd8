package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/diff"
	"github.com/driftwatch/driftwatch/handlers/emit"
	"github.com/driftwatch/driftwatch/handlers/policy"
	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/states"
	"github.com/driftwatch/driftwatch/pipeline/topic"
	"github.com/driftwatch/driftwatch/projections/simulate"
)

// governing is a policy source that answers one policy.
type governing struct{ p drift.Policy }

func (g governing) PolicyFor(context.Context, string, string, string, eventstore.Position) (drift.Policy, error) {
	return g.p, nil
}

// liveRun is the real diff, policy, emit and planner stages under one policy, on a clock
// set per observation; emit keeps its ledgers in ledgers.
type liveRun struct {
	t       *testing.T
	at      time.Time
	diff    *diff.Diff
	policy  *policy.Policy
	emit    *emit.Emit
	planner *action.Planner
}

func newLiveRun(t *testing.T, p drift.Policy, st diff.States, ledgers eventstore.Store) *liveRun {
	t.Helper()
	r := &liveRun{t: t}
	clock := func() time.Time { return r.at }
	var err error
	if r.diff, err = diff.New(diff.Config{}, diff.Deps{Policies: governing{p}, States: st, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if r.policy, err = policy.New(clock); err != nil {
		t.Fatal(err)
	}
	if r.emit, err = emit.New(emit.Config{}, emit.Deps{Store: ledgers, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if r.planner, err = action.NewPlanner(action.PlannerDeps{Store: ledgers, Now: clock}); err != nil {
		t.Fatal(err)
	}
	return r
}

// run sends one resolved observation through the stages at time at and returns every record
// they made, and what it amounts to as a simulation would say it.
func (r *liveRun) run(in event.Message[event.DesiredStateResolved_v2], at time.Time, got *simulate.Result) []event.Record {
	r.t.Helper()
	r.at = at
	ctx := r.t.Context()
	must := func(recs []event.Record, err error) []event.Record {
		r.t.Helper()
		if err != nil {
			r.t.Fatal(err)
		}
		return recs
	}
	diffs := must(r.diff.Handle(ctx, in))
	verdicts := must(r.policy.Handle(ctx, as[event.DiffComputed_v2](diffs[0])))
	out := append(diffs, verdicts...)
	for _, rec := range must(r.emit.Handle(ctx, as[event.PolicyEvaluated_v2](verdicts[0]))) {
		switch f := rec.Fact.(type) {
		case event.DriftDetected_v1:
			got.Opened = append(got.Opened, simulate.Opened{CIID: f.CIID, Field: f.Field, ObservationID: f.ObservationID,
				Severity: f.Severity, Category: f.Category, DetectedAt: f.DetectedAt, DetectOnly: f.DetectOnly})
			for _, a := range must(r.planner.Handle(ctx, as[event.DriftDetected_v1](rec))) {
				req := a.Fact.(event.ActionRequested_v1)
				got.Actions = append(got.Actions, simulate.Action{CIID: req.CIID, Field: req.Field, ObservationID: f.ObservationID,
					Kind: req.Kind, ActAfter: f.ActAfter})
				out = append(out, a)
			}
		case event.DriftResolved_v1:
			got.Resolved = append(got.Resolved, simulate.Resolved{CIID: f.CIID, Field: f.Field, ObservationID: f.ObservationID,
				Reason: f.Reason, ResolvedAt: f.ResolvedAt})
		}
	}
	return out
}

func as[F event.Fact](r event.Record) event.Message[F] {
	return event.Message[F]{ID: r.ID, Subject: r.Subject, Time: r.Time, Fact: r.Fact.(F)}
}

// appendRecords appends records to their streams as the recorder would, and waits for the
// read models.
func (f *fixture) appendRecords(recs ...event.Record) {
	f.t.Helper()
	var pos eventstore.Position
	for _, rec := range recs {
		ev, stream, err := rec.StoreEvent()
		if err != nil {
			f.t.Fatal(err)
		}
		if stream == "" {
			continue
		}
		res, err := f.store.Append(f.t.Context(), stream, eventstore.Any, ev)
		if err != nil {
			f.t.Fatal(err)
		}
		pos = max(pos, res.Position)
	}
	if err := f.runner.WaitFor(f.t.Context(), pos); err != nil {
		f.t.Fatal(err)
	}
}

func TestSimulatePolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wed := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	desired := `{"files":{"/etc/hosts":{"sha256":"a"}},"interfaces":[{"mtu":1500,"name":"eth0"}],"power_state":"running"}`
	docs := map[string]string{
		"stopped": `{"files":{"/etc/hosts":{"sha256":"a"}},"interfaces":[{"mtu":1500,"name":"eth0"}],"power_state":"stopped"}`,
		"jumbo":   `{"files":{"/etc/hosts":{"sha256":"a"}},"interfaces":[{"mtu":9000,"name":"eth0"}],"power_state":"running"}`,
		"hosts":   `{"files":{"/etc/hosts":{"sha256":"b"}},"interfaces":[{"mtu":1500,"name":"eth0"}],"power_state":"running"}`,
		"paused":  `{"files":{"/etc/hosts":{"sha256":"a"}},"interfaces":[{"mtu":1500,"name":"eth0"}],"power_state":"paused"}`,
	}
	history := []struct {
		ci, state string
		at        time.Duration
	}{
		{"vm-1", "stopped", 10 * time.Hour},               // excepted by the draft until 12:00
		{"db-2", "stopped", 10 * time.Hour},               // not selected by the draft's ci_ids
		{"vm-1", "paused", 10*time.Hour + 30*time.Minute}, // not the approved value
		{"vm-1", "stopped", 11 * time.Hour},               // approved again: resolved as excepted
		{"vm-1", "jumbo", 11*time.Hour + 30*time.Minute},  // the draft ignores the MTU
		{"vm-1", "stopped", 13 * time.Hour},               // the exception expired
		{"vm-1", "hosts", 14 * time.Hour},                 // a file: critical under the draft's rule
	}
	hashOf := func(doc string) string { h, _ := drift.Hash(json.RawMessage(doc)); return h }
	var setup []event.Record
	for _, doc := range append([]string{desired}, docs["stopped"], docs["jumbo"], docs["hosts"], docs["paused"]) {
		c, _ := drift.Canonical(json.RawMessage(doc))
		setup = append(setup, event.StateRecord(hashOf(doc), c, wed))
	}
	f.appendRecords(setup...)
	st, err := states.New(states.Config{}, f.store)
	if err != nil {
		t.Fatal(err)
	}

	// The history, as recorded under the live policy: quarantine every drift of a vm's power
	// state and interfaces.
	// It does not monitor the files: the draft's file drift comes from comparing again.
	live := drift.Policy{ID: "vm", CIType: "vm", Version: 1, ActionType: drift.ActionQuarantine, MonitoredFields: []string{"power_state", "interfaces"}}
	live.SetDefaults()
	recorded := newLiveRun(t, live, st, f.store)
	var inputs []event.Message[event.DesiredStateResolved_v2]
	var before simulate.Result
	for i, h := range history {
		at := wed.Add(h.at)
		o := event.Observed{ObservationID: fmt.Sprint("obs-", i), CIID: h.ci, CIType: "vm", Source: "agent", ObservedAt: at, StateHash: hashOf(docs[h.state])}
		in := event.Message[event.DesiredStateResolved_v2]{ID: event.DeriveID("resolved", o.ObservationID), Subject: h.ci, Time: at,
			Fact: event.DesiredStateResolved_v2{Observed: o, Managed: true, Desired: event.DesiredRef{Source: "template", TemplateID: "vm-base", Version: 1, Hash: hashOf(desired)}}}
		inputs = append(inputs, in)
		obs := event.Record{ID: event.DeriveID("observation", o.ObservationID), Subject: h.ci, Time: at, Fact: event.ObservationReceived_v2{Observed: o, ReceivedAt: at}}
		f.appendRecords(append([]event.Record{obs}, recorded.run(in, at, &before)...)...)
	}
	if len(before.Opened) < 4 {
		t.Fatalf("the recorded history opened too little to judge a draft by: %+v", before.Opened)
	}

	draft := `{"ci_type":"vm","ci_ids":["vm-*"],"action_type":"quarantine","severity":"medium",
		"ignore":["/interfaces/*/mtu"],
		"rules":[{"field":"/files/*","severity":"critical","category":"security"}],
		"exceptions":[{"field":"/power_state","value":"stopped","expires_at":"2026-03-04T12:00:00Z","ticket":"CHG0042","reason":"migration"}],
		"maintenance_windows":[{"days":["sat"],"start":"02:00","duration":"2h"}]}`
	wrote := f.runner.Position()
	var sim simulate.Result
	f.do("POST", "/drift/policies/vm/simulate", "application/json", draft).want(t, http.StatusOK, &sim)
	if f.runner.Position() != wrote || len(f.pub.published(topic.ActionRequested)) != 0 {
		t.Fatalf("the simulation recorded or published something")
	}

	// What the live stages then do with the draft as the policy, over the same history.
	var p drift.Policy
	if err := json.Unmarshal([]byte(draft), &p); err != nil {
		t.Fatal(err)
	}
	p.ID = "vm"
	p.SetDefaults()
	scratch, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = scratch.Close() })
	then := newLiveRun(t, p, st, scratch)
	var want simulate.Result
	for _, in := range inputs {
		if simulate.Governs(p, nil, event.DiffComputed_v2{Observed: in.Fact.Observed, Desired: in.Fact.Desired}) {
			then.run(in, in.Time, &want)
		}
	}

	if sim.PolicyID != "vm" || sim.CIs != 1 || sim.Diffs != 6 || sim.Excepted != 2 {
		t.Fatalf("simulation over %d CIs, %d diffs, %d excepted: %+v", sim.CIs, sim.Diffs, sim.Excepted, sim)
	}
	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s: the simulation says\n%s\nthe live stages did\n%s", what, g, w)
		}
	}
	same("opened", sim.Opened, want.Opened)
	same("resolved", sim.Resolved, want.Resolved)
	same("actions", sim.Actions, want.Actions)

	// And what that is: the exception held the first stop, a pause opened and the next stop
	// resolved it as excepted, the MTU was ignored, the stop after the expiry opened and asked
	// for a quarantine at Saturday's window, the file opened critical.
	fields := func(os []simulate.Opened) (out []string) {
		for _, o := range os {
			out = append(out, o.ObservationID+" "+o.Field+" "+string(o.Severity))
		}
		return out
	}
	if got := fields(sim.Opened); !slices.Equal(got, []string{"obs-2 /power_state medium", "obs-5 /power_state medium", "obs-6 /files critical"}) {
		t.Errorf("opened %q", got)
	}
	saturday := time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)
	if len(sim.Actions) != 3 || sim.Actions[1].Kind != drift.ActionKindQuarantine || !sim.Actions[1].ActAfter.Equal(saturday) {
		t.Errorf("actions %+v", sim.Actions)
	}
	// A policy bound to vm-1's template outranks the draft there: it would govern nothing.
	f.do("POST", "/drift/policies", "application/json", `{"id":"canary","template_id":"vm-base","ci_ids":["vm-1"]}`).want(t, http.StatusCreated, nil)
	var outranked simulate.Result
	f.do("POST", "/drift/policies/vm/simulate", "application/json", draft).want(t, http.StatusOK, &outranked)
	if outranked.CIs != 0 || len(outranked.Opened) != 0 {
		t.Errorf("the draft judged CIs another policy governs: %+v", outranked)
	}
	if len(sim.Resolved) != 2 || !strings.HasPrefix(sim.Resolved[0].Reason, "excepted by CHG0042") || !strings.Contains(sim.Resolved[1].Reason, "matches") {
		t.Errorf("resolved %+v", sim.Resolved)
	}
}

func TestSimulatePolicyRefusesABadDraftWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.do("POST", "/drift/policies/vm/simulate", "application/json",
		`{"id":"other","ci_type":"vm","severity":"dire","ignore":["x"],"exceptions":[{"field":"/a"}],"maintenance_windows":[{"days":["someday"],"start":"2am","duration":"2h"}]}`).
		problem(t, http.StatusBadRequest, "id", "severity", "ignore[0]", "exceptions[0].value", "exceptions[0].expires_at",
			"exceptions[0].ticket", "maintenance_windows[0].days[0]", "maintenance_windows[0].start")
	f.do("POST", "/drift/policies/vm/simulate", "application/json", `{"ci_type":"vm","detect_onyl":true}`).
		problem(t, http.StatusBadRequest, "detect_onyl")
	f.as = f.secrets[auth.Viewer]
	f.do("POST", "/drift/policies/vm/simulate", "application/json", `{"ci_type":"vm"}`).problem(t, http.StatusForbidden)
}
