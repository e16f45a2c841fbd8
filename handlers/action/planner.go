package action

import (
	"context"
	"errors"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Topics of the stage: the planner consumes opened drifts, the runner requested actions.
const (
	PlannerTopic = topic.DriftDetected
	RunnerTopic  = topic.ActionRequested
)

// RequestedByPolicy is the requester of the actions the planner asks for.
const RequestedByPolicy = "policy"

// Planner consumes DriftDetected_v1 and emits an ActionRequested_v1 for each action the
// drift's policy asks for (see Plan): a change request with auto_change_request or
// manual_review, and the first attempt of the policy's remediation (a quarantine; with
// auto_correct, a playbook run with auto_remediate and a script, a run of the card's script
// without auto_remediate, or a start or stop of the power state). A detect-only drift asks
// for nothing. Action ids derive from the drift and the kind (event.ActionID), so the
// planner is idempotent; it is pure and safe for concurrent use.
type Planner struct {
	now func() time.Time
}

// NewPlanner returns the planner; now is the clock (required).
func NewPlanner(now func() time.Time) (*Planner, error) {
	if now == nil {
		return nil, errors.New("new action planner: clock: required")
	}
	return &Planner{now: now}, nil
}

// Handle implements router.Stage.
func (p *Planner) Handle(_ context.Context, in event.Message[event.DriftDetected_v1]) ([]event.Record, error) {
	d := in.Fact
	at := p.now()
	var out []event.Record
	for _, kind := range PlanAll(d) {
		id := event.ActionID(d.DriftID, kind)
		req := event.ActionRequested_v1{
			ActionID: id, Kind: kind, CIID: d.CIID, CIType: d.CIType, DriftID: d.DriftID,
			PolicyID: d.PolicyID, ActionType: d.ActionType, Field: d.Field, Desired: d.Desired,
			RequestedBy: RequestedByPolicy, Reason: reason(d, kind), RequestedAt: at.UTC(),
		}
		if kind.Remediates() {
			req.Attempt = 1
		}
		if kind == drift.ActionKindPlaybook || kind == drift.ActionKindScript {
			req.Target = d.Script
		}
		out = append(out, event.Record{ID: event.DeriveID("action-requested", id), Subject: d.CIID, Time: at, CorrelationID: in.CorrelationID, CausationID: in.ID, Fact: req})
	}
	return out, nil
}

func reason(d event.DriftDetected_v1, kind drift.ActionKind) string {
	if kind == drift.ActionKindChangeRequest && d.AutoChangeRequest {
		return "policy " + d.PolicyID + " asks for a change request"
	}
	return "policy " + d.PolicyID + " asks for " + string(d.ActionType)
}

// Plan returns the remediation a drift's policy asks for, if any (see drift.Remedy).
func Plan(d event.DriftDetected_v1) (drift.ActionKind, bool) {
	kind, err := remedy(d).Remediation()
	return kind, err == nil
}

// PlanAll returns every action the drift's policy asks for at once, the change request
// first; none for a detect-only drift.
func PlanAll(d event.DriftDetected_v1) []drift.ActionKind {
	if d.DetectOnly {
		return nil
	}
	var out []drift.ActionKind
	if d.AutoChangeRequest || d.ActionType == drift.ActionManualReview {
		out = append(out, drift.ActionKindChangeRequest)
	}
	if kind, ok := Plan(d); ok {
		out = append(out, kind)
	}
	return out
}

func remedy(d event.DriftDetected_v1) drift.Remedy {
	return drift.Remedy{ActionType: d.ActionType, Script: d.Script, AutoRemediate: d.AutoRemediate, Field: d.Field, Desired: d.Desired}
}
