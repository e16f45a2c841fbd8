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
	"github.com/driftwatch/driftwatch/pipeline/ledger"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Consumer groups and topics of the lifecycle's four inputs.
const (
	LifecycleFailedName     = "action-lifecycle-failed"
	LifecycleFailedTopic    = topic.ActionFailed
	LifecycleSucceededName  = "action-lifecycle-succeeded"
	LifecycleSucceededTopic = topic.ActionSucceeded
	LifecycleVerdictsName   = "action-lifecycle-verdicts"
	LifecycleVerdictsTopic  = topic.PolicyEvaluatedV2
	LifecycleResolvedName   = "action-lifecycle-resolved"
	LifecycleResolvedTopic  = topic.DriftResolved
)

// LifecycleConfig tunes the lifecycle. The zero value is the default.
type LifecycleConfig struct {
	// Attempts is how many remediation attempts a drift gets before it escalates; default 3.
	Attempts int
	// CloseCode closes the tickets of a resolved drift; default "successful".
	CloseCode string
}

// Lifecycle follows each drift after the planner: open → (acknowledged) → remediating →
// resolved | escalated. The CI is re-checked by its next observation: a verdict observed
// after a remediation attempt succeeded that still finds the drift's field differing, a
// failed attempt, or a playbook or script run that changed nothing (no observation would
// follow it) asks for the next attempt (event.AttemptID), and after Attempts attempts
// escalates instead: DriftEscalated_v1 on the drift's stream, an incident (related to the
// change request) and a work note on the change request. When the drift resolves, its
// tickets are closed with CloseCode and notes saying why; a ticket opened after its drift
// resolved is closed as soon as it is recorded. The Rechecker adds the lifecycle's time: a
// deadline for attempts no verdict confirms, and maintenance windows.
//
// Every output id derives from the drift (and the attempt or ticket kind), so each attempt,
// escalation and close is asked for once whatever the deliveries; the runner performs each
// once. It decides on the CI's drift and action streams in the store, never on a read
// model. Safe for concurrent use. Cost per message: a read of the CI's action stream, and of
// its drift stream when there is something to decide; a verdict without differing fields
// costs nothing.
type Lifecycle struct {
	cfg   LifecycleConfig
	store eventstore.Store
	now   func() time.Time
}

// NewLifecycle returns the lifecycle; store and now are required.
func NewLifecycle(cfg LifecycleConfig, store eventstore.Store, now func() time.Time) (*Lifecycle, error) {
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	if cfg.CloseCode == "" {
		cfg.CloseCode = "successful"
	}
	var errs []error
	if cfg.Attempts < 1 {
		errs = append(errs, fmt.Errorf("attempts: %d must be at least 1", cfg.Attempts))
	}
	if store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new action lifecycle: %w", err)
	}
	return &Lifecycle{cfg: cfg, store: store, now: now}, nil
}

// Failures, Successes, Verdicts and Resolutions are the lifecycle's stages, one per input.
func (l *Lifecycle) Failures() LifecycleFailures       { return LifecycleFailures{l} }
func (l *Lifecycle) Successes() LifecycleSuccesses     { return LifecycleSuccesses{l} }
func (l *Lifecycle) Verdicts() LifecycleVerdicts       { return LifecycleVerdicts{l} }
func (l *Lifecycle) Resolutions() LifecycleResolutions { return LifecycleResolutions{l} }

// LifecycleFailures takes a failed remediation attempt to the next attempt or escalation.
type LifecycleFailures struct{ l *Lifecycle }

// Handle implements router.Stage.
func (s LifecycleFailures) Handle(ctx context.Context, in event.Message[event.ActionFailed_v1]) ([]event.Record, error) {
	f := in.Fact
	if f.DriftID == "" || !f.Kind.Remediates() || f.RemediationAttempt == 0 {
		return nil, nil
	}
	st, err := s.l.load(ctx, f.CIID)
	if err != nil {
		return nil, err
	}
	d, ok := st.live(f.DriftID)
	if !ok || st.h.drift(f.DriftID).last != f.ActionID {
		return nil, nil // resolved, escalated, or a newer attempt is under way
	}
	why := fmt.Sprintf("remediation attempt %d (%s) failed: %s", f.RemediationAttempt, f.Kind, f.Reason)
	return s.l.next(causeOf(in.ID, in.CorrelationID), st, d, f.Kind, f.RemediationAttempt, why), nil
}

// LifecycleSuccesses closes a ticket opened for a drift that resolved meanwhile, and takes a
// playbook or script run that reports it changed nothing to the next attempt or escalation
// at once: the CI is as it was, and no observation will show it repaired.
type LifecycleSuccesses struct{ l *Lifecycle }

// Handle implements router.Stage.
func (s LifecycleSuccesses) Handle(ctx context.Context, in event.Message[event.ActionSucceeded_v1]) ([]event.Record, error) {
	f := in.Fact
	if f.DriftID != "" && f.Attempt > 0 && !f.Changed && (f.Kind == drift.ActionKindPlaybook || f.Kind == drift.ActionKindScript) {
		st, err := s.l.load(ctx, f.CIID)
		if err != nil {
			return nil, err
		}
		d, ok := st.live(f.DriftID)
		if !ok || st.h.drift(f.DriftID).last != f.ActionID {
			return nil, nil
		}
		why := fmt.Sprintf("remediation attempt %d (%s) changed nothing", f.Attempt, f.Kind)
		return s.l.next(causeOf(in.ID, in.CorrelationID), st, d, f.Kind, f.Attempt, why), nil
	}
	if f.DriftID == "" || f.Ticket == nil || (f.Kind != drift.ActionKindChangeRequest && f.Kind != drift.ActionKindIncident) {
		return nil, nil
	}
	st, err := s.l.load(ctx, f.CIID)
	if err != nil {
		return nil, err
	}
	d, ok := st.drifts.Get(f.DriftID)
	if !ok || d.Status != drift.StatusResolved {
		return nil, nil
	}
	return s.l.closeTickets(causeOf(in.ID, in.CorrelationID), st, d, "the drift resolved while its ticket was being opened"), nil
}

// LifecycleVerdicts re-checks remediated drifts against each new verdict on their CI.
type LifecycleVerdicts struct{ l *Lifecycle }

// Handle implements router.Stage.
func (s LifecycleVerdicts) Handle(ctx context.Context, in event.Message[event.PolicyEvaluated_v2]) ([]event.Record, error) {
	v := in.Fact
	if len(v.Differs) == 0 {
		return nil, nil
	}
	h, err := loadHistory(ctx, s.l.store, v.Observed.CIID)
	if err != nil || len(h.drifts) == 0 {
		return nil, err
	}
	dl, err := ledger.Load(ctx, s.l.store, v.Observed.CIID)
	if err != nil {
		return nil, err
	}
	st := state{drifts: dl, h: h}
	var out []event.Record
	for _, d := range st.drifts.Unresolved() {
		id := d.Detected.DriftID
		a := st.h.drift(id)
		if d.Status == drift.StatusEscalated || a.attempts == 0 || a.failed || a.done.IsZero() ||
			!v.Observed.ObservedAt.After(a.done) || !slices.Contains(v.Differs, d.Detected.Field) {
			continue
		}
		kind, err := remedy(d.Detected).Remediation()
		if err != nil {
			continue
		}
		why := fmt.Sprintf("still drifted after remediation attempt %d (observation %s)", a.attempts, v.Observed.ObservationID)
		out = append(out, s.l.next(causeOf(in.ID, in.CorrelationID), st, d, kind, a.attempts, why)...)
	}
	return out, nil
}

// LifecycleResolutions closes the tickets of resolved drifts.
type LifecycleResolutions struct{ l *Lifecycle }

// Handle implements router.Stage.
func (s LifecycleResolutions) Handle(ctx context.Context, in event.Message[event.DriftResolved_v1]) ([]event.Record, error) {
	f := in.Fact
	st, err := s.l.load(ctx, f.CIID)
	if err != nil {
		return nil, err
	}
	d, ok := st.drifts.Get(f.DriftID)
	if !ok {
		return nil, nil
	}
	why := fmt.Sprintf("%s %s (observation %s at %s)", f.Field, f.Reason, f.ObservationID, f.ResolvedAt.UTC().Format(time.RFC3339))
	return s.l.closeTickets(causeOf(in.ID, in.CorrelationID), st, d, why), nil
}

// state is a CI's drift ledger and action history, read together.
type state struct {
	drifts *ledger.Ledger
	h      *history
}

func (l *Lifecycle) load(ctx context.Context, ciID string) (state, error) {
	h, err := loadHistory(ctx, l.store, ciID)
	if err != nil {
		return state{}, err
	}
	d, err := ledger.Load(ctx, l.store, ciID)
	if err != nil {
		return state{}, err
	}
	return state{drifts: d, h: h}, nil
}

// live returns a drift that is neither resolved nor escalated.
func (s state) live(driftID string) (ledger.Drift, bool) {
	d, ok := s.drifts.Get(driftID)
	return d, ok && d.Status != drift.StatusResolved && d.Status != drift.StatusEscalated
}

// next asks for attempt n+1 of kind on drift d or, when n attempts are spent, escalates it.
func (l *Lifecycle) next(c cause, st state, d ledger.Drift, kind drift.ActionKind, n int, why string) []event.Record {
	f := d.Detected
	at := l.now()
	if n < l.cfg.Attempts {
		req := event.ActionRequested_v1{
			ActionID: event.AttemptID(f.DriftID, kind, n+1), Kind: kind, CIID: f.CIID, CIType: f.CIType, DriftID: f.DriftID,
			PolicyID: f.PolicyID, ActionType: f.ActionType, Field: f.Field, Desired: f.Desired, RequestedBy: RequestedByPolicy,
			Reason: why, RequestedAt: at.UTC(), Attempt: n + 1,
		}
		if kind == drift.ActionKindPlaybook || kind == drift.ActionKindScript {
			req.Target = f.Script
		}
		return []event.Record{l.record(c, event.DeriveID("action-requested", req.ActionID), f.CIID, at, req)}
	}
	why = fmt.Sprintf("escalated after %d remediation attempts: %s", n, why)
	out := []event.Record{l.record(c, event.DeriveID("drift-escalated", f.DriftID), f.CIID, at, event.DriftEscalated_v1{
		DriftID: f.DriftID, CIID: f.CIID, Field: f.Field, Attempts: n, Reason: why, Severity: f.Severity, EscalatedAt: at.UTC(),
		PlannedChange: d.PlannedChange,
	})}
	cr, hasCR := st.h.drift(f.DriftID).tickets[TicketChangeRequest]
	inc := event.ActionRequested_v1{
		ActionID: event.ActionID(f.DriftID, drift.ActionKindIncident), Kind: drift.ActionKindIncident, CIID: f.CIID, CIType: f.CIType,
		DriftID: f.DriftID, PolicyID: f.PolicyID, ActionType: f.ActionType, Field: f.Field, Desired: f.Desired,
		RequestedBy: RequestedByPolicy, Reason: why, Note: why, RequestedAt: at.UTC(),
	}
	if hasCR {
		inc.Related = cr.Number
		upd := event.ActionRequested_v1{
			ActionID: event.TicketActionID(f.DriftID, drift.ActionKindTicketUpdate, string(TicketChangeRequest), "escalated"),
			Kind:     drift.ActionKindTicketUpdate, CIID: f.CIID, DriftID: f.DriftID, PolicyID: f.PolicyID,
			RequestedBy: RequestedByPolicy, Reason: why, Note: "driftwatch: " + why + "; an incident follows.",
			Ticket: ticketRef(&cr), RequestedAt: at.UTC(),
		}
		out = append(out, l.record(c, event.DeriveID("action-requested", upd.ActionID), f.CIID, at, upd))
	}
	return append(out, l.record(c, event.DeriveID("action-requested", inc.ActionID), f.CIID, at, inc))
}

// closeTickets asks to close every ticket opened for a resolved drift.
func (l *Lifecycle) closeTickets(c cause, st state, d ledger.Drift, why string) []event.Record {
	f := d.Detected
	at := l.now()
	tickets := st.h.drift(f.DriftID).tickets
	var out []event.Record
	for _, kind := range []TicketKind{TicketChangeRequest, TicketIncident} {
		t, ok := tickets[kind]
		if !ok {
			continue
		}
		req := event.ActionRequested_v1{
			ActionID: event.TicketActionID(f.DriftID, drift.ActionKindTicketClose, string(kind), "resolved"),
			Kind:     drift.ActionKindTicketClose, CIID: f.CIID, DriftID: f.DriftID, PolicyID: f.PolicyID,
			RequestedBy: RequestedByPolicy, Reason: "the drift resolved", Ticket: ticketRef(&t), CloseCode: l.cfg.CloseCode,
			Note: "driftwatch: drift " + f.DriftID + " on " + f.CIID + " resolved: " + why + ".", RequestedAt: at.UTC(),
		}
		out = append(out, l.record(c, event.DeriveID("action-requested", req.ActionID), f.CIID, at, req))
	}
	return out
}

func (l *Lifecycle) record(c cause, id, subject string, at time.Time, f event.Fact) event.Record {
	return event.Record{ID: id, Subject: subject, Time: at, CorrelationID: c.correlation, CausationID: c.id, Fact: f}
}

// cause is the message a decision answers.
type cause struct{ id, correlation string }

func causeOf(id, correlation string) cause { return cause{id, correlation} }
