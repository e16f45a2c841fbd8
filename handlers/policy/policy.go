// Package policy is the verdict stage: it applies the governing policy's threshold, severity,
// category and actions to a diff.
package policy

import (
	"context"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Consumer group and topic of the stage.
const (
	Name  = "policy"
	Topic = topic.DiffComputedV2
)

// Policy consumes DiffComputed_v2 and emits PolicyEvaluated_v2. Drifts are proposed only when
// at least drift_threshold fields differ; Differs always lists every differing field, so that a
// drift already open is not resolved merely because the others went back. Pure: idempotent
// and safe for concurrent use. Cost per message: nothing but the decision.
type Policy struct {
	now func() time.Time
}

// New returns the policy stage; now is the clock (default time.Now).
func New(now func() time.Time) (*Policy, error) {
	if now == nil {
		now = time.Now
	}
	return &Policy{now: now}, nil
}

// Handle implements router.Stage.
func (s *Policy) Handle(_ context.Context, in event.Message[event.DiffComputed_v2]) ([]event.Record, error) {
	d, p := in.Fact, in.Fact.Policy
	p.SetDefaults()
	out := event.PolicyEvaluated_v2{
		Observed: d.Observed, Desired: d.Desired, PolicyID: p.ID, PolicyVersion: d.PolicyVersion,
		Severity: p.Severity, Category: p.Category, DriftThreshold: p.DriftThreshold, Differing: len(d.Drifts),
		ThresholdMet: len(d.Drifts) > 0 && len(d.Drifts) >= p.DriftThreshold,
		ActionType:   p.ActionType, AutoChangeRequest: p.AutoChangeRequest, AutoRemediate: p.AutoRemediate,
		Script: p.Script, Notify: p.Notify, Checked: d.Checked, Differs: make([]string, len(d.Drifts)),
	}
	for i, fd := range d.Drifts {
		out.Differs[i] = fd.Field
	}
	if out.ThresholdMet {
		out.Drifts = d.Drifts
	}
	return []event.Record{{
		ID:      event.DeriveID("policy-evaluated", in.ID),
		Subject: d.Observed.CIID,
		Time:    s.now(),
		Fact:    out,
	}}, nil
}
