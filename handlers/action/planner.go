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
	"go.uber.org/zap"
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
// A drift is marked planned (DriftPlanned_v1), naming its change, when it was observed while
// a remediation of driftwatch's own was in progress on its CI (asked for before the drift was
// observed and ended less than PlannedWindow before, or not ended; the change is that
// remediation's change request), or, with an ITSM change calendar (Changes), in the
// implementation window of an approved change request on the CI. It is planned for as any
// other; notifications and escalation treat it apart (it never pages). A calendar that
// cannot be read within ChangesTimeout leaves the drift unplanned, with a warning: a page
// too many is better than a drift no one hears of.
//
// Ids derive from the drift and the kind (event.ActionID), so the planner is idempotent.
// Safe for concurrent use. Cost per message: a read of the CI's action stream, and with
// Changes a query of the calendar (cached, see CacheChanges).
type Planner struct {
	deps PlannerDeps
}

// PlannedWindow is how long after a remediation ended a drift on its CI still counts as its
// effect (the observation that shows it may come that much later).
const PlannedWindow = 5 * time.Minute

// ChangesTimeout bounds a query of the change calendar.
const ChangesTimeout = 5 * time.Second

// PlannerDeps is what the planner needs.
type PlannerDeps struct {
	// Store holds the CIs' action streams; required.
	Store eventstore.Store
	// Now is the clock; required.
	Now func() time.Time
	// Changes is the ITSM system's change calendar; nil: only driftwatch's own remediations
	// make a drift planned.
	Changes Changes
	// Logger warns of a change calendar that cannot be read; default none.
	Logger *zap.Logger
}

// NewPlanner returns the planner; it refuses missing deps.
func NewPlanner(deps PlannerDeps) (*Planner, error) {
	var errs []error
	if deps.Store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if deps.Now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new action planner: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	return &Planner{deps: deps}, nil
}

// Handle implements router.Stage.
func (p *Planner) Handle(ctx context.Context, in event.Message[event.DriftDetected_v1]) ([]event.Record, error) {
	d := in.Fact
	at := p.deps.Now()
	h, err := loadHistory(ctx, p.deps.Store, d.CIID)
	if err != nil {
		return nil, err
	}
	var out []event.Record
	f, ok, err := p.planned(ctx, h, d, at)
	if err != nil {
		return nil, err
	}
	if ok {
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

// PlannedChange returns the change a drift is part of, "" when it is unplanned (see Planner).
// The notify stage asks it when the drift opens, so that a planned drift's opening does not
// page before the planner's DriftPlanned_v1 is recorded.
func (p *Planner) PlannedChange(ctx context.Context, d event.DriftDetected_v1) (string, error) {
	h, err := loadHistory(ctx, p.deps.Store, d.CIID)
	if err != nil {
		return "", err
	}
	f, _, err := p.planned(ctx, h, d, p.deps.Now())
	return f.Change, err
}

// planned returns the DriftPlanned_v1 of a planned drift. Only the end of ctx is an error.
func (p *Planner) planned(ctx context.Context, h *history, d event.DriftDetected_v1, at time.Time) (event.DriftPlanned_v1, bool, error) {
	if f, ok := remediating(h, d, at); ok || p.deps.Changes == nil {
		return f, ok, nil
	}
	qctx, cancel := context.WithTimeout(ctx, ChangesTimeout)
	changes, err := p.deps.Changes.InWindow(qctx, d.CIID, d.DetectedAt)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return event.DriftPlanned_v1{}, false, ctx.Err()
		}
		p.deps.Logger.Warn("The change calendar could not be read: the drift counts as unplanned",
			zap.String("stage", "action"), zap.String("ci_id", d.CIID), zap.String("drift_id", d.DriftID), zap.Error(err))
		return event.DriftPlanned_v1{}, false, nil
	}
	for _, c := range changes {
		if c.Number == "" || !c.Holds(d.DetectedAt) {
			continue // the calendar answered beyond the question
		}
		start, end := c.Start.UTC(), c.End.UTC()
		reason := fmt.Sprintf("observed in the implementation window of approved change %s (%s to %s)", c.Number, start.Format(time.RFC3339), end.Format(time.RFC3339))
		if c.Summary != "" {
			reason += ": " + c.Summary
		}
		return event.DriftPlanned_v1{
			DriftID: d.DriftID, CIID: d.CIID, Change: c.Number, WindowStart: &start, WindowEnd: &end,
			Reason: reason, PlannedAt: at.UTC(),
		}, true, nil
	}
	return event.DriftPlanned_v1{}, false, nil
}

// remediating returns the DriftPlanned_v1 of a drift observed while a remediation of another
// drift of its CI was in progress.
func remediating(h *history, d event.DriftDetected_v1, at time.Time) (event.DriftPlanned_v1, bool) {
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
