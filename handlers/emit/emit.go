// Package emit is the decision stage: it opens, updates and resolves drifts on each CI's
// drift ledger and emits drift.detected, drift.updated and drift.resolved.
package emit

import (
	"bytes"
	"cmp"
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

// Consumer group and topic of the stage.
const (
	Name  = "emit"
	Topic = topic.PolicyEvaluatedV2
)

// Config tunes the stage. The zero value is the default.
type Config struct {
	// CachedLedgers bounds how many CIs' ledgers are kept between decisions; default 100,000.
	CachedLedgers int
}

// Deps are what the stage works with.
type Deps struct {
	// Store holds the drift ledgers; required.
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Emit consumes PolicyEvaluated_v2. Against the CI's ledger it opens a drift for each proposed
// field that has none unresolved (one per CI and field, whatever the number of observations),
// records DriftUpdated_v1 when an open drift's actual value changed, and resolves every
// unresolved drift whose field was checked and no longer differs (the unmanaged finding, on
// drift.FieldWhole, by any verdict that does not report it), as excepted when an exception of
// the verdict covers it. A drift takes its field's severity and category from the verdict, and
// its detect_only and act_after. It commits those facts to the
// ledger with optimistic concurrency (a concurrent writer makes it fail with a retryable
// error) and returns them, recorded, for publishing.
//
// Verdicts may arrive out of order when several workers share a stage: a verdict observed
// before a field's drift was detected does not resolve it, and one observed before the field
// was last seen matching does not reopen it.
//
// Idempotent: a verdict delivered again after its facts were committed finds them on the
// ledger by causation id and returns the same facts, so they are published at least once and
// stored once. Safe for concurrent use.
//
// Cost per message: a read of what the CI's drift stream gained since its last decision (its
// ledger stays cached) and, when something changes, one AppendMany.
type Emit struct {
	deps    Deps
	ledgers *ledger.Cache
}

// New returns the emit stage; it refuses missing deps.
func New(cfg Config, deps Deps) (*Emit, error) {
	if cfg.CachedLedgers == 0 {
		cfg.CachedLedgers = 100_000
	}
	if deps.Store == nil {
		return nil, errors.New("new emit: event store: required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Emit{deps: deps, ledgers: ledger.NewCache(deps.Store, cfg.CachedLedgers)}, nil
}

// Handle implements router.Stage.
func (s *Emit) Handle(ctx context.Context, in event.Message[event.PolicyEvaluated_v2]) ([]event.Record, error) {
	var out []event.Record
	err := s.ledgers.With(ctx, in.Fact.Observed.CIID, func(l *ledger.Ledger) error {
		if done := l.CausedBy(in.ID); len(done) > 0 {
			var err error
			out, err = replay(done)
			return err
		}
		recs := append(s.detect(in, l), s.resolve(in, l)...)
		if err := l.Commit(ctx, s.deps.Store, recs...); err != nil {
			return fmt.Errorf("decide drifts of %s: %w", in.Fact.Observed.CIID, err)
		}
		out = recs
		return nil
	})
	return out, err
}

func (s *Emit) detect(in event.Message[event.PolicyEvaluated_v2], l *ledger.Ledger) []event.Record {
	v := in.Fact
	o := v.Observed
	var out []event.Record
	for _, fd := range v.Drifts {
		if d, open := l.Open(fd.Field); open {
			if !bytes.Equal(d.Actual, fd.Actual) && !o.ObservedAt.Before(d.Detected.DetectedAt) {
				id := d.Detected.DriftID
				out = append(out, s.record(in, event.DeriveID("drift-updated", id, in.ID), event.DriftUpdated_v1{
					DriftID: id, CIID: o.CIID, Field: fd.Field, ObservationID: o.ObservationID,
					Actual: fd.Actual, Patch: fd.Patch, Detail: fd.Detail, UpdatedAt: o.ObservedAt,
				}))
			}
			continue
		}
		if at, ok := l.LastResolved(fd.Field); ok && o.ObservedAt.Before(at) {
			continue // a stale verdict: the field was seen matching after this observation
		}
		id := event.DeriveID("drift", o.CIID, fd.Field, in.ID)
		out = append(out, s.record(in, id, event.DriftDetected_v1{
			DriftID: id, CIID: o.CIID, CIType: o.CIType, TemplateID: v.Desired.TemplateID, DesiredSource: v.Desired.Source,
			TemplateVersion: v.Desired.Version, PolicyID: v.PolicyID, PolicyVersion: v.PolicyVersion,
			ObservationID: o.ObservationID, Field: fd.Field, Desired: fd.Desired, Actual: fd.Actual,
			Patch: fd.Patch, Detail: fd.Detail, Category: cmp.Or(fd.Category, v.Category), Severity: cmp.Or(fd.Severity, v.Severity),
			ActionType: v.ActionType, AutoChangeRequest: v.AutoChangeRequest, AutoRemediate: v.AutoRemediate, Script: v.Script, Notify: v.Notify,
			DetectedAt: o.ObservedAt, DetectOnly: v.DetectOnly, ActAfter: v.ActAfter,
		}))
	}
	return out
}

func (s *Emit) resolve(in event.Message[event.PolicyEvaluated_v2], l *ledger.Ledger) []event.Record {
	v := in.Fact
	o := v.Observed
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
			if !judged(field, v.Checked) || overlaps(field, v.Differs) {
				continue
			}
			if i := slices.IndexFunc(v.Excepted, func(e drift.ExceptedField) bool { return e.Field == field }); i >= 0 {
				reason = v.Excepted[i].Resolution()
			}
		}
		if o.ObservedAt.Before(d.Detected.DetectedAt) {
			continue // a stale verdict: the drift was observed after this observation
		}
		id := d.Detected.DriftID
		out = append(out, s.record(in, event.DeriveID("drift-resolved", id), event.DriftResolved_v1{
			DriftID: id, CIID: o.CIID, Field: field, ObservationID: o.ObservationID,
			Reason: reason, ResolvedAt: o.ObservedAt,
		}))
	}
	return out
}

// judged reports whether a verdict that checked these pointers judged field whole: field is
// one of its fields, or lies below a checked pointer. A drift opened at a finer grain (from
// an observation scoped to one file) is judged by a full observation, whose fields are the
// top-level members.
func judged(field string, checked []string) bool {
	if f, ok := drift.FieldOf(field, checked); ok && f == field {
		return true
	}
	for _, c := range checked {
		if drift.UnderPointer(field, c) {
			return true
		}
	}
	return false
}

// overlaps reports whether a differing field is field, or lies above or below it.
func overlaps(field string, differs []string) bool {
	for _, d := range differs {
		if d == field || drift.UnderPointer(d, field) || drift.UnderPointer(field, d) {
			return true
		}
	}
	return false
}

func (s *Emit) record(in event.Message[event.PolicyEvaluated_v2], id string, f event.Fact) event.Record {
	return event.Record{ID: id, Subject: in.Fact.Observed.CIID, Time: s.deps.Now(), CorrelationID: in.CorrelationID, CausationID: in.ID, Fact: f}
}

// replay decodes facts already committed for a verdict so they can be published again.
func replay(envs []event.Envelope) ([]event.Record, error) {
	out := make([]event.Record, 0, len(envs))
	for _, e := range envs {
		var r event.Record
		var err error
		switch e.Type {
		case event.TypeDriftDetected:
			r, err = erased[event.DriftDetected_v1](e)
		case event.TypeDriftUpdated:
			r, err = erased[event.DriftUpdated_v1](e)
		case event.TypeDriftResolved:
			r, err = erased[event.DriftResolved_v1](e)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func erased[F event.Fact](e event.Envelope) (event.Record, error) {
	m, err := event.Decode[F](e)
	return event.Erase(m), err
}
