// Package diff is the comparison stage: RFC 6902 (jsondiff) between desired and actual state
// over the governing policy's monitored fields, hash first.
package diff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Consumer group and topic of the stage.
const (
	Name  = "diff"
	Topic = topic.DesiredStateResolvedV2
)

// PolicySource returns the policy governing a CI: by template, else by CI type (either
// narrowed by the policy's ci_ids), else the default policy, as of at least store position pos (see enrich.Query.Position).
type PolicySource interface {
	PolicyFor(ctx context.Context, ciID, ciType, templateID string, pos eventstore.Position) (drift.Policy, error)
}

// States reads states by hash; *states.Store implements it.
type States interface {
	Get(ctx context.Context, hash string) (json.RawMessage, error)
}

// Config tunes the diff stage. The zero value is the default.
type Config struct {
	// UnmanagedSources names the observation sources whose CIs must have a desired state
	// ("docker": a container labelled as a CI). An observation from one of them of a CI
	// without desired state is itself a finding: one drift on the whole CI (field
	// drift.FieldWhole, desired missing, actual the observed state), category state, under
	// the governing policy's severity and actions, whatever its monitored fields and
	// threshold. Default none: observations of CIs without desired state emit nothing.
	UnmanagedSources []string
}

// Deps are what the stage works with; all are required but Now (default time.Now).
type Deps struct {
	Policies PolicySource
	States   States
	Now      func() time.Time
}

// Diff consumes DesiredStateResolved_v2 and emits DiffComputed_v2. When the observation's
// state hash equals the desired baseline hash nothing is read or decoded: there is no drift.
// Otherwise both states are read by hash (from a cache, else the store) and compared. An
// unmanaged CI (no desired state) gets an empty verdict, or the unmanaged finding when its source is
// one of Config.UnmanagedSources (it is judged without checking anything). Idempotent (the output id derives from the input id); safe
// for concurrent use.
//
// Cost per message: a policy lookup; for differing hashes two state reads (cached) and one
// jsondiff over the monitored fields.
type Diff struct {
	cfg  Config
	deps Deps
}

// New returns the diff stage; it refuses missing deps.
func New(cfg Config, deps Deps) (*Diff, error) {
	var errs []error
	if deps.Policies == nil {
		errs = append(errs, errors.New("policy source: required"))
	}
	if deps.States == nil {
		errs = append(errs, errors.New("states: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new diff: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Diff{cfg: cfg, deps: deps}, nil
}

// Handle implements router.Stage.
func (s *Diff) Handle(ctx context.Context, in event.Message[event.DesiredStateResolved_v2]) ([]event.Record, error) {
	r := in.Fact
	o := r.Observed
	p, err := s.deps.Policies.PolicyFor(ctx, o.CIID, o.CIType, r.Desired.TemplateID, in.Position)
	if err != nil {
		return nil, fmt.Errorf("find policy for %s: %w", o.CIID, err)
	}
	out := event.DiffComputed_v2{Observed: o, Desired: r.Desired, Policy: p, PolicyVersion: p.Version}
	switch {
	case !r.Managed && !slices.Contains(s.cfg.UnmanagedSources, o.Source):
		// Nothing to compare with and nothing to report: an empty verdict, so that the CI
		// counts as judged on what it is.
		out.Checked = []string{}
	case !r.Managed:
		if err := s.unmanaged(ctx, &out, r.Unmanaged); err != nil {
			return nil, err
		}
	default:
		out.HashEqual = o.StateHash == r.Desired.Hash
		out.Checked = Checked(p, o.Scope)
		if !out.HashEqual {
			desired, err := s.deps.States.Get(ctx, r.Desired.Hash)
			if err != nil {
				return nil, fmt.Errorf("read desired state of %s: %w", o.CIID, err)
			}
			actual, err := s.deps.States.Get(ctx, o.StateHash)
			if err != nil {
				return nil, fmt.Errorf("read observed state of %s: %w", o.CIID, err)
			}
			if out.Drifts, err = Compare(desired, actual, out.Checked, p.Ignore); err != nil {
				return nil, fault.Permanent(fmt.Errorf("compare %s with %s: %w", o.CIID, r.Desired, err))
			}
			for i := range out.Drifts {
				out.Drifts[i].Detail = o.Details[out.Drifts[i].Field]
			}
		}
	}
	return []event.Record{{ID: event.DeriveID("diff-computed", in.ID), Subject: o.CIID, Time: s.deps.Now(), Fact: out}}, nil
}

// unmanaged reports a CI without desired state as one drift on the whole CI.
func (s *Diff) unmanaged(ctx context.Context, out *event.DiffComputed_v2, why string) error {
	o := out.Observed
	actual, err := s.deps.States.Get(ctx, o.StateHash)
	if err != nil {
		return fmt.Errorf("read observed state of %s: %w", o.CIID, err)
	}
	out.Policy.Category, out.Policy.DriftThreshold = drift.CategoryState, 1
	patch, err := Patch(json.RawMessage("null"), actual)
	if err != nil {
		return fault.Permanent(fmt.Errorf("patch of unmanaged %s: %w", o.CIID, err))
	}
	out.Checked = []string{drift.FieldWhole}
	out.Drifts = []drift.FieldDrift{{
		Field: drift.FieldWhole, Desired: json.RawMessage("null"), DesiredMissing: true,
		Actual: actual, Patch: patch, Detail: why,
	}}
	return nil
}
