// Package policy is the verdict stage: it applies the governing policy (drift.Decide) to a
// diff.
package policy

import (
	"context"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Consumer group and topic of the stage.
const (
	Name  = "policy"
	Topic = topic.DiffComputedV2
)

// Policy consumes DiffComputed_v2 and emits PolicyEvaluated_v2, the verdict of the policy the
// diff carries at the stage's clock (see drift.Decide): ignore patterns and active exceptions
// applied, drifts proposed only when at least drift_threshold fields differ, each with its
// rule's severity and category. Differs always lists every differing field, so that a drift
// already open is not resolved merely because the others went back; Excepted the fields an
// exception covers. A detect-only verdict asks for no action (action_type none, no change
// request, no remediation); ActAfter is the next maintenance window. Pure but for the clock:
// idempotent (the output id derives from the input id) and safe for concurrent use. Cost per
// message: the decision, which reads the patches of the differing fields.
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
	d, p, at := in.Fact, in.Fact.Policy, s.now()
	p.SetDefaults()
	v := drift.Decide(d.Drifts, p, at)
	out := event.PolicyEvaluated_v2{
		Observed: d.Observed, Desired: d.Desired, PolicyID: p.ID, PolicyVersion: d.PolicyVersion,
		Severity: p.Severity, Category: p.Category, DriftThreshold: p.DriftThreshold, Differing: len(v.Differs),
		ThresholdMet: v.ThresholdMet, ActionType: p.ActionType, AutoChangeRequest: p.AutoChangeRequest,
		AutoRemediate: p.AutoRemediate, Script: p.Script, Notify: p.Notify, Checked: d.Checked, Drifts: v.Drifts, Differs: v.Differs,
		DetectOnly: v.DetectOnly, ActAfter: v.ActAfter, Excepted: v.Excepted,
	}
	if out.DetectOnly {
		out.ActionType, out.AutoChangeRequest, out.AutoRemediate, out.Script = drift.ActionNone, false, false, ""
	}
	return []event.Record{{ID: event.DeriveID("policy-evaluated", in.ID), Subject: d.Observed.CIID, Time: at, Fact: out}}, nil
}
