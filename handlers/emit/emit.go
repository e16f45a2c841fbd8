// Package emit is the decision stage: it opens and resolves drifts on each CI's drift ledger
// and emits drift.detected and drift.resolved.
package emit

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
)

// Emit consumes PolicyEvaluated_v1. Against the CI's ledger it opens a drift for each proposed
// field that has none unresolved (one per CI and field, whatever the number of observations)
// and resolves every unresolved drift whose field was checked and no longer differs (the
// unmanaged finding, on drift.FieldWhole, by any verdict that does not report it). It
// commits those facts to the ledger with optimistic concurrency (a concurrent writer makes it
// fail with a retryable error) and returns them for publishing.
//
// Verdicts may arrive out of order when several workers share a stage: a verdict observed
// before a field's drift was detected does not resolve it, and one observed before the field
// was last seen matching does not reopen it.
//
// Idempotent: a verdict delivered again after its facts were committed finds them on the
// ledger by causation id and returns the same facts, so they are published at least once and
// stored once. Safe for concurrent use.
type Emit struct {
	store eventstore.Store
	now   func() time.Time
}

// New returns the emit stage; both arguments are required.
func New(store eventstore.Store, now func() time.Time) (*Emit, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new emit: %w", err)
	}
	return &Emit{store: store, now: now}, nil
}

// Handle implements router.Stage.
func (s *Emit) Handle(ctx context.Context, in event.Message[event.PolicyEvaluated_v1]) ([]event.Record, error) {
	v := in.Fact
	l, err := ledger.Load(ctx, s.store, v.CIID)
	if err != nil {
		return nil, err
	}
	if done := l.CausedBy(in.ID); len(done) > 0 {
		return replay(done)
	}
	recs := append(s.detect(in, l), s.resolve(in, l)...)
	if err := l.Commit(ctx, s.store, recs...); err != nil {
		return nil, fmt.Errorf("decide drifts of %s: %w", v.CIID, err)
	}
	return recs, nil
}

func (s *Emit) detect(in event.Message[event.PolicyEvaluated_v1], l *ledger.Ledger) []event.Record {
	v := in.Fact
	var out []event.Record
	for _, fd := range v.Drifts {
		if _, open := l.Open(fd.Field); open {
			continue
		}
		if at, ok := l.LastResolved(fd.Field); ok && v.ObservedAt.Before(at) {
			continue // a stale verdict: the field was seen matching after this observation
		}
		id := event.DeriveID("drift", v.CIID, fd.Field, in.ID)
		out = append(out, s.record(in, id, event.DriftDetected_v1{
			DriftID: id, CIID: v.CIID, CIType: v.CIType, TemplateID: v.TemplateID, PolicyID: v.PolicyID,
			ObservationID: v.ObservationID, Field: fd.Field, Desired: fd.Desired, Actual: fd.Actual,
			Patch: fd.Patch, Detail: fd.Detail, Category: v.Category, Severity: v.Severity, ActionType: v.ActionType,
			AutoChangeRequest: v.AutoChangeRequest, AutoRemediate: v.AutoRemediate, Notify: v.Notify,
			DetectedAt: v.ObservedAt,
		}))
	}
	return out
}

func (s *Emit) resolve(in event.Message[event.PolicyEvaluated_v1], l *ledger.Ledger) []event.Record {
	v := in.Fact
	var out []event.Record
	for _, d := range l.Unresolved() {
		field, reason := d.Detected.Field, "matches the desired state"
		switch {
		case field == drift.FieldWhole:
			// The unmanaged finding: any verdict that does not report it again has a
			// desired state.
			if slices.Contains(v.Differs, field) {
				continue
			}
			reason = "has a desired state"
		default:
			if f, checked := drift.FieldOf(field, v.Checked); !checked || f != field || slices.Contains(v.Differs, field) {
				continue
			}
		}
		if v.ObservedAt.Before(d.Detected.DetectedAt) {
			continue // a stale verdict: the drift was observed after this observation
		}
		id := d.Detected.DriftID
		out = append(out, s.record(in, event.DeriveID("drift-resolved", id), event.DriftResolved_v1{
			DriftID: id, CIID: v.CIID, Field: field, ObservationID: v.ObservationID,
			Reason: reason, ResolvedAt: v.ObservedAt,
		}))
	}
	return out
}

func (s *Emit) record(in event.Message[event.PolicyEvaluated_v1], id string, f event.Fact) event.Record {
	return event.Record{ID: id, Subject: in.Fact.CIID, Time: s.now(), CorrelationID: in.CorrelationID, CausationID: in.ID, Fact: f}
}

// replay decodes facts already committed for a verdict so they can be published again.
func replay(envs []event.Envelope) ([]event.Record, error) {
	out := make([]event.Record, 0, len(envs))
	for _, e := range envs {
		var r event.Record
		switch e.Type {
		case event.TypeDriftDetected:
			m, err := event.Decode[event.DriftDetected_v1](e)
			if err != nil {
				return nil, err
			}
			r = event.Erase(m)
		case event.TypeDriftResolved:
			m, err := event.Decode[event.DriftResolved_v1](e)
			if err != nil {
				return nil, err
			}
			r = event.Erase(m)
		default:
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
