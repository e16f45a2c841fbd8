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
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// PolicySource returns the policy governing a CI: by template, else by CI type, else the
// default policy.
type PolicySource interface {
	PolicyFor(ctx context.Context, ciType, templateID string) (drift.Policy, error)
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

// Diff consumes DesiredStateResolved_v1 and emits DiffComputed_v1. When the observation's
// state hash equals the template's baseline hash nothing is decoded: there is no drift. An
// unmanaged CI (no desired state) emits nothing, or the unmanaged finding when its source is
// one of Config.UnmanagedSources. Idempotent (the output id derives from the input id); safe
// for concurrent use if its policy source is.
type Diff struct {
	cfg      Config
	policies PolicySource
	now      func() time.Time
}

// New returns the diff stage; policies and now are required.
func New(cfg Config, policies PolicySource, now func() time.Time) (*Diff, error) {
	var errs []error
	if policies == nil {
		errs = append(errs, errors.New("policy source: required"))
	}
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new diff: %w", err)
	}
	return &Diff{cfg: cfg, policies: policies, now: now}, nil
}

// Handle implements router.Stage.
func (s *Diff) Handle(ctx context.Context, in event.Message[event.DesiredStateResolved_v1]) ([]event.Record, error) {
	r := in.Fact
	o := r.Observation
	if !r.Managed && !slices.Contains(s.cfg.UnmanagedSources, o.Source) {
		return nil, nil
	}
	if !r.Managed {
		return s.unmanaged(ctx, in)
	}
	p, err := s.policies.PolicyFor(ctx, o.CIType, r.TemplateID)
	if err != nil {
		return nil, fmt.Errorf("find policy for %s: %w", o.CIID, err)
	}
	out := event.DiffComputed_v1{
		ObservationID: o.ObservationID, CIID: o.CIID, CIType: o.CIType, TemplateID: r.TemplateID,
		ObservedAt: o.ObservedAt, Policy: p, StateHash: o.StateHash, BaselineHash: r.BaselineHash,
		HashEqual: o.StateHash == r.BaselineHash, Checked: Checked(p, o.Scope),
	}
	if !out.HashEqual {
		if out.Drifts, err = Compare(r.Desired, o.State, out.Checked, p.Ignore); err != nil {
			return nil, fault.Permanent(fmt.Errorf("compare %s with template %s: %w", o.CIID, r.TemplateID, err))
		}
		for i := range out.Drifts {
			out.Drifts[i].Detail = o.Details[out.Drifts[i].Field]
		}
	}
	return []event.Record{{
		ID:      event.DeriveID("diff-computed", in.ID),
		Subject: o.CIID,
		Time:    s.now(),
		Fact:    out,
	}}, nil
}

// unmanaged reports a CI without desired state as one drift on the whole CI.
func (s *Diff) unmanaged(ctx context.Context, in event.Message[event.DesiredStateResolved_v1]) ([]event.Record, error) {
	o := in.Fact.Observation
	p, err := s.policies.PolicyFor(ctx, o.CIType, o.TemplateID)
	if err != nil {
		return nil, fmt.Errorf("find policy for %s: %w", o.CIID, err)
	}
	p.Category, p.DriftThreshold = drift.CategoryState, 1
	patch, err := Patch(json.RawMessage("null"), o.State)
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("patch of unmanaged %s: %w", o.CIID, err))
	}
	why := fmt.Sprintf("no desired state: no template for ci_type %q", o.CIType)
	if o.TemplateID != "" {
		why = fmt.Sprintf("no desired state: template %q does not exist", o.TemplateID)
	}
	return []event.Record{{
		ID:      event.DeriveID("diff-computed", in.ID),
		Subject: o.CIID,
		Time:    s.now(),
		Fact: event.DiffComputed_v1{
			ObservationID: o.ObservationID, CIID: o.CIID, CIType: o.CIType, TemplateID: o.TemplateID,
			ObservedAt: o.ObservedAt, Policy: p, StateHash: o.StateHash, Checked: []string{drift.FieldWhole},
			Drifts: []drift.FieldDrift{{
				Field: drift.FieldWhole, Desired: json.RawMessage("null"), DesiredMissing: true,
				Actual: o.State, Patch: patch, Detail: why,
			}},
		},
	}}, nil
}
