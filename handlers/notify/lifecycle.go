package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Consumer groups and topics of the stage: one per lifecycle fact it tells. drift.updated is
// not told: an open drift whose actual value changed is a repeat, and the ledger the
// acknowledgement and resolution read shows its latest value. An escalation (the drift is
// still there after its remediation attempts) is told once: PagerDuty triggers the drift's
// alert again under its dedup_key, whatever the number of attempts.
const (
	EscalatedName     = "notify-escalated"
	EscalatedTopic    = topic.DriftEscalated
	DetectedName      = "notify-detected"
	DetectedTopic     = topic.DriftDetected
	AcknowledgedName  = "notify-acknowledged"
	AcknowledgedTopic = topic.DriftAcknowledged
	ResolvedName      = "notify-resolved"
	ResolvedTopic     = topic.DriftResolved
)

// Stages are the stage's handlers, one per lifecycle topic, over one Dispatcher.
type Stages struct {
	Detected     Detected
	Acknowledged Acknowledged
	Resolved     Resolved
	Escalated    Escalated
}

// NewStages returns the handlers over a new Dispatcher (see New).
func NewStages(cfg Config, deps Deps) (Stages, error) {
	d, err := New(cfg, deps)
	if err != nil {
		return Stages{}, err
	}
	l := ledger.NewCache(deps.Store, 10_000)
	return Stages{Detected: Detected{d, deps.Planning}, Acknowledged: Acknowledged{d, l}, Resolved: Resolved{d, l}, Escalated: Escalated{d, l}}, nil
}

// Detected tells the opening of a drift. It consumes DriftDetected_v1 and emits nothing (it
// records NotificationSent_v1 itself, see Dispatcher). A planned drift's opening (Planning)
// does not page. Idempotent and safe for concurrent use.
type Detected struct {
	d        *Dispatcher
	planning Planning
}

// Handle implements router.Stage.
func (s Detected) Handle(ctx context.Context, in event.Message[event.DriftDetected_v1]) ([]event.Record, error) {
	f := in.Fact
	if f.DriftID == "" {
		return nil, fault.Permanent(errors.New("notify: drift.detected without a drift id"))
	}
	n := opening(f)
	n.Event, n.At = EventOpened, f.DetectedAt
	n.Summary = fmt.Sprintf("%s %s: desired %s, actual %s", f.CIID, fieldName(f.Field), summaryValue(f.Desired), summaryValue(f.Actual))
	if s.planning != nil {
		change, err := s.planning.PlannedChange(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("notify: is drift %s planned: %w", f.DriftID, err)
		}
		if change != "" {
			n.Planned = true
			n.Summary += " (planned: " + cut(change, 80) + ")"
		}
	}
	return nil, s.d.Dispatch(ctx, n, f.Notify, in.Time)
}

// Acknowledged tells a person's acknowledgement of a drift: PagerDuty acknowledges its alert.
// It consumes DriftAcknowledged_v1, reads the drift from its CI's ledger, and emits nothing.
// Idempotent and safe for concurrent use. Cost per message: a catch-up of the CI's cached
// drift ledger, then the Dispatcher's.
type Acknowledged struct {
	d       *Dispatcher
	ledgers *ledger.Cache
}

// Handle implements router.Stage.
func (s Acknowledged) Handle(ctx context.Context, in event.Message[event.DriftAcknowledged_v1]) ([]event.Record, error) {
	f := in.Fact
	d, err := lookup(ctx, s.ledgers, f.CIID, f.DriftID)
	if err != nil {
		return nil, err
	}
	n := opening(d.Detected)
	n.Event, n.At, n.By, n.Actual = EventAcknowledged, f.AcknowledgedAt, f.By, d.Actual
	n.Summary = fmt.Sprintf("%s %s acknowledged", f.CIID, fieldName(n.Field))
	if f.By != "" {
		n.Summary += " by " + cut(f.By, 80)
	}
	if f.Comment != "" {
		n.Summary += ": " + cut(f.Comment, 200)
	}
	return nil, s.d.Dispatch(ctx, n, d.Detected.Notify, in.Time)
}

// Resolved tells that a drift's field matches its desired state again: PagerDuty resolves its
// alert, the others get a resolution message. It consumes DriftResolved_v1, reads the drift
// from its CI's ledger, and emits nothing. Idempotent and safe for concurrent use. Cost per
// message: as Acknowledged.
type Resolved struct {
	d       *Dispatcher
	ledgers *ledger.Cache
}

// Handle implements router.Stage.
func (s Resolved) Handle(ctx context.Context, in event.Message[event.DriftResolved_v1]) ([]event.Record, error) {
	f := in.Fact
	d, err := lookup(ctx, s.ledgers, f.CIID, f.DriftID)
	if err != nil {
		return nil, err
	}
	n := opening(d.Detected)
	n.Event, n.At = EventResolved, f.ResolvedAt
	// The actual value is the desired one again; the last one that differed stays in the
	// detail of the opening.
	n.Actual = d.Detected.Desired
	n.Summary = fmt.Sprintf("%s %s resolved", f.CIID, fieldName(n.Field))
	if f.Reason != "" {
		n.Summary += ": " + cut(f.Reason, 200)
	}
	return nil, s.d.Dispatch(ctx, n, d.Detected.Notify, in.Time)
}

// Escalated tells that a drift is still there after its remediation attempts. It consumes
// DriftEscalated_v1, reads the drift from its CI's ledger, and emits nothing; a planned
// drift's escalation (part of a change) never pages. Idempotent and safe for concurrent use.
type Escalated struct {
	d       *Dispatcher
	ledgers *ledger.Cache
}

// Handle implements router.Stage.
func (s Escalated) Handle(ctx context.Context, in event.Message[event.DriftEscalated_v1]) ([]event.Record, error) {
	f := in.Fact
	d, err := lookup(ctx, s.ledgers, f.CIID, f.DriftID)
	if err != nil {
		return nil, err
	}
	n := opening(d.Detected)
	n.Event, n.At, n.Actual = EventEscalated, f.EscalatedAt, d.Actual
	n.Planned = f.PlannedChange != "" || d.PlannedChange != ""
	if f.Severity != "" {
		n.Severity = f.Severity
	}
	n.Summary = fmt.Sprintf("%s %s escalated after %d remediation attempt(s)", f.CIID, fieldName(n.Field), f.Attempts)
	if f.Reason != "" {
		n.Summary += ": " + cut(f.Reason, 200)
	}
	return nil, s.d.Dispatch(ctx, n, d.Detected.Notify, in.Time)
}

// opening is the notification of a drift as its detection describes it.
func opening(f event.DriftDetected_v1) Notification {
	return Notification{
		DriftID: f.DriftID, CIID: f.CIID, CIType: f.CIType, Field: f.Field,
		Category: f.Category, Severity: f.Severity,
		Desired: f.Desired, Actual: f.Actual, Detail: f.Detail, PolicyID: f.PolicyID,
	}
}

func lookup(ctx context.Context, ledgers *ledger.Cache, ciID, driftID string) (ledger.Drift, error) {
	if ciID == "" || driftID == "" {
		return ledger.Drift{}, fault.Permanent(errors.New("notify: a drift fact without a CI or drift id"))
	}
	var d ledger.Drift
	var found bool
	err := ledgers.With(ctx, ciID, func(l *ledger.Ledger) error {
		d, found = l.Get(driftID)
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("notify: read drift %s of %s: %w", driftID, ciID, err)
	}
	if !found {
		return d, fault.Permanent(fmt.Errorf("notify: drift %s of %s: %w", driftID, ciID, ledger.ErrUnknownDrift))
	}
	return d, nil
}

func fieldName(field string) string {
	if field == "" {
		return "(the whole CI)"
	}
	return cut(field, 200)
}
