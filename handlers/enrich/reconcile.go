package enrich

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// CI is what reconcile needs to know of a CI: its last observed state and the last verdict
// on it.
type CI struct {
	CIID, CIType, TemplateID, Source string
	ObservationID                    string
	StateHash                        string
	ObservedAt                       time.Time
	// Evaluated is the last verdict: nil when the CI was never evaluated. VerdictPosition is
	// its place in the event store.
	Evaluated       *Evaluated
	VerdictPosition uint64
}

// Evaluated names what a CI's last verdict was judged on.
type Evaluated struct {
	StateHash     string
	DesiredHash   string // "" for a CI judged without desired state
	PolicyID      string
	PolicyVersion int
}

// CILister lists the CIs the read model knows; the drift read model implements it through an
// adapter.
type CILister interface {
	ReconcileCIs(ctx context.Context) ([]CI, error)
}

// PolicySource finds the policy that governs a CI (see diff.PolicySource).
type PolicySource interface {
	PolicyFor(ctx context.Context, ciType, templateID string, pos eventstore.Position) (drift.Policy, error)
}

// Emitter records and publishes facts; *record.Emitter implements it.
type Emitter interface {
	Emit(ctx context.Context, recs ...event.Record) error
}

// ReconcilerDeps are what reconcile works with; all are required but Now.
type ReconcilerDeps struct {
	CIs      CILister
	Source   DesiredSource
	Policies PolicySource
	Emitter  Emitter
	Now      func() time.Time
}

// Reconciler is SPEC-080's on-demand sweep, in place: it compares each CI's stored state
// hash, and the desired state and policy it was last judged on, with the current ones, and
// asks for an evaluation (EvaluationRequested_v1) of only the CIs that were never judged on
// exactly these. A request's id derives from what it asks to judge, so repeated sweeps of an
// unchanged fleet append nothing, and one that runs before the pipeline caught up asks again
// with the same ids. Safe for concurrent use.
//
// Cost: one desired-state and policy lookup per CI (memory for templates), and one fact per
// CI that needs judging.
type Reconciler struct {
	deps ReconcilerDeps
}

// NewReconciler returns a Reconciler; it refuses missing deps.
func NewReconciler(deps ReconcilerDeps) (*Reconciler, error) {
	var errs []error
	if deps.CIs == nil {
		errs = append(errs, errors.New("cis: required"))
	}
	if deps.Source == nil {
		errs = append(errs, errors.New("desired source: required"))
	}
	if deps.Policies == nil {
		errs = append(errs, errors.New("policies: required"))
	}
	if deps.Emitter == nil {
		errs = append(errs, errors.New("emitter: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Reconciler{deps: deps}, nil
}

// Sweep is what one reconcile did.
type Sweep struct {
	// CIs is how many CIs with a state were compared; Requested how many were sent to be
	// judged again.
	CIs       int `json:"cis"`
	Requested int `json:"requested"`
}

// reconcileBatch is how many requests one Emit carries.
const reconcileBatch = 256

// Reconcile sweeps the CIs that match (every CI when match is nil), giving reason as the
// requests' Reevaluation.
func (r *Reconciler) Reconcile(ctx context.Context, reason string, match func(CI) bool) (Sweep, error) {
	cis, err := r.deps.CIs.ReconcileCIs(ctx)
	if err != nil {
		return Sweep{}, fmt.Errorf("list cis: %w", err)
	}
	var sweep Sweep
	var batch []event.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := r.deps.Emitter.Emit(ctx, batch...); err != nil {
			return fmt.Errorf("reconcile stopped after %d requests: %w", sweep.Requested, err)
		}
		sweep.Requested += len(batch)
		batch = batch[:0]
		return nil
	}
	now := r.deps.Now()
	for _, ci := range cis {
		if ci.StateHash == "" || (match != nil && !match(ci)) {
			continue
		}
		sweep.CIs++
		d, found, err := r.deps.Source.Desired(ctx, Query{CIID: ci.CIID, CIType: ci.CIType, TemplateID: ci.TemplateID})
		if err != nil {
			return sweep, fmt.Errorf("resolve desired state for %s: %w", ci.CIID, err)
		}
		desired := ""
		if found {
			desired = d.BaselineHash
		}
		p, err := r.deps.Policies.PolicyFor(ctx, ci.CIType, d.TemplateID, 0)
		if err != nil {
			return sweep, fmt.Errorf("find policy for %s: %w", ci.CIID, err)
		}
		want := Evaluated{StateHash: ci.StateHash, DesiredHash: desired, PolicyID: p.ID, PolicyVersion: p.Version}
		if ci.Evaluated != nil && *ci.Evaluated == want {
			continue
		}
		// The id names what is judged and the verdict it follows: sweeps that run before the
		// pipeline judged the CI ask again with the same id, and a desired state changed back
		// to one it had before (A, B, A) is judged again.
		id := event.DeriveID("evaluation-requested", ci.CIID, want.StateHash, want.DesiredHash, d.Source, fmt.Sprint(d.Version),
			want.PolicyID, fmt.Sprint(want.PolicyVersion), fmt.Sprint(ci.VerdictPosition))
		batch = append(batch, event.Record{ID: id, Subject: ci.CIID, Time: now, Fact: event.EvaluationRequested_v1{
			RequestedAt: now.UTC(), Observed: event.Observed{
				ObservationID: ci.ObservationID, CIID: ci.CIID, CIType: ci.CIType, TemplateID: ci.TemplateID, Source: ci.Source,
				ObservedAt: ci.ObservedAt, StateHash: ci.StateHash, Reevaluation: reason,
			}}})
		if len(batch) == reconcileBatch {
			if err := flush(); err != nil {
				return sweep, err
			}
		}
	}
	return sweep, flush()
}
