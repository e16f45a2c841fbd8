package action

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
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
// for nothing. A remediation waits for the policy's maintenance window (the drift's
// ActAfter): its request carries NotBefore, and the runner performs it once the window
// opens (see Rechecker); a ticket does not wait.
//
// A drift observed while a remediation of driftwatch's own was in progress on its CI (asked
// for before the drift was observed and ended less than PlannedWindow before, or not ended)
// is marked planned (DriftPlanned_v1), naming that remediation's change request; it is
// planned for as any other.
//
// Ids derive from the drift and the kind (event.ActionID), so the planner is idempotent.
// Safe for concurrent use. Cost per message: a read of the CI's action stream.
type Planner struct {
	store eventstore.Store
	now   func() time.Time
}

// PlannedWindow is how long after a remediation ended a drift on its CI still counts as its
// effect (the observation that shows it may come that much later).
const PlannedWindow = 5 * time.Minute

// NewPlanner returns the planner; store and now are required.
func NewPlanner(store eventstore.Store, now func() time.Time) (*Planner, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new action planner: %w", err)
	}
	return &Planner{store: store, now: now}, nil
}

// Handle implements router.Stage.
func (p *Planner) Handle(ctx context.Context, in event.Message[event.DriftDetected_v1]) ([]event.Record, error) {
	d := in.Fact
	at := p.now()
	h, err := loadHistory(ctx, p.store, d.CIID)
	if err != nil {
		return nil, err
	}
	var out []event.Record
	if f, ok := planned(h, d, at); ok {
		out = append(out, event.Record{ID: event.DeriveID("drift-planned", d.DriftID), Subject: d.CIID, Time: at,
			CorrelationID: in.CorrelationID, CausationID: in.ID, Fact: f})
	}
	for _, kind := range PlanAll(d) {
		id := event.ActionID(d.DriftID, kind)
		req := event.ActionRequested_v1{
			ActionID: id, Kind: kind, CIID: d.CIID, CIType: d.CIType, DriftID: d.DriftID,
			PolicyID: d.PolicyID, ActionType: d.ActionType, Field: d.Field, Desired: d.Desired,
			RequestedBy: RequestedByPolicy, Reason: reason(d, kind), RequestedAt: at.UTC(),
		}
		if kind.Remediates() {
			req.Attempt = 1
			if d.ActAfter.After(at) {
				req.NotBefore = d.ActAfter.UTC()
			}
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

// planned returns the DriftPlanned_v1 of a drift observed while a remediation of another
// drift of its CI was in progress.
func planned(h *history, d event.DriftDetected_v1, at time.Time) (event.DriftPlanned_v1, bool) {
	ids := make([]string, 0, len(h.drifts))
	for id := range h.drifts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := h.drifts[id]
		if id == d.DriftID || a.attempts == 0 || a.requested.After(d.DetectedAt) {
			continue
		}
		ended := a.done
		if ended.IsZero() && a.failed {
			continue // a failed run changed nothing to speak of
		}
		if !ended.IsZero() && d.DetectedAt.Sub(ended) > PlannedWindow {
			continue
		}
		change := a.last
		if cr, ok := a.tickets[TicketChangeRequest]; ok {
			change = cr.Number
		}
		return event.DriftPlanned_v1{
			DriftID: d.DriftID, CIID: d.CIID, Change: change, ByDrift: id, ActionID: a.last,
			Reason: fmt.Sprintf("observed while remediation attempt %d of drift %s was in progress", a.attempts, id), PlannedAt: at.UTC(),
		}, true
	}
	return event.DriftPlanned_v1{}, false
}

func remedy(d event.DriftDetected_v1) drift.Remedy {
	return drift.Remedy{ActionType: d.ActionType, Script: d.Script, AutoRemediate: d.AutoRemediate, Field: d.Field, Desired: d.Desired}
}
