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
// drift's policy asks for: action_type quarantine asks for a quarantine; auto_correct of the
// power_state field asks for a start (desired "running") or a stop (desired "stopped"); other
// drifts ask for nothing. The action id derives from the drift and the kind (event.ActionID),
// so the planner is idempotent; it is pure and safe for concurrent use.
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
	kind, ok := Plan(d)
	if !ok {
		return nil, nil
	}
	id := event.ActionID(d.DriftID, kind)
	at := p.now()
	return []event.Record{{
		ID:      event.DeriveID("action-requested", id),
		Subject: d.CIID,
		Time:    at,
		Fact: event.ActionRequested_v1{
			ActionID: id, Kind: kind, CIID: d.CIID, CIType: d.CIType, DriftID: d.DriftID,
			PolicyID: d.PolicyID, ActionType: d.ActionType, Field: d.Field, Desired: d.Desired,
			RequestedBy: RequestedByPolicy, Reason: "policy " + d.PolicyID + " asks for " + string(d.ActionType),
			RequestedAt: at.UTC(),
		},
	}}, nil
}

// Plan returns the action a drift's policy asks for, if any (see drift.Remediation).
func Plan(d event.DriftDetected_v1) (drift.ActionKind, bool) {
	kind, err := drift.Remediation(d.ActionType, d.Field, d.Desired)
	return kind, err == nil
}
