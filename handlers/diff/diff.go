// Package diff is the comparison stage: RFC 6902 (jsondiff) between desired and actual state
// over the governing policy's monitored fields, hash first.
package diff

import (
	"context"
	"errors"
	"fmt"
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

// Diff consumes DesiredStateResolved_v1 and emits DiffComputed_v1. When the observation's
// state hash equals the template's baseline hash nothing is decoded: there is no drift. An
// unmanaged CI (no desired state) emits nothing. Idempotent (the output id derives from the
// input id); safe for concurrent use if its policy source is.
type Diff struct {
	policies PolicySource
	now      func() time.Time
}

// New returns the diff stage; both arguments are required.
func New(policies PolicySource, now func() time.Time) (*Diff, error) {
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
	return &Diff{policies: policies, now: now}, nil
}

// Handle implements router.Stage.
func (s *Diff) Handle(ctx context.Context, in event.Message[event.DesiredStateResolved_v1]) ([]event.Record, error) {
	r := in.Fact
	if !r.Managed {
		return nil, nil
	}
	o := r.Observation
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
