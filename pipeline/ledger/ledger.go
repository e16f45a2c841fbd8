// Package ledger folds one CI's drift stream (drift-<ci_id>: detected, acknowledged,
// resolved) into its current drifts, and commits decisions on it with optimistic concurrency,
// so that there is at most one unresolved drift per (CI, field) whatever the number of
// workers.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// ErrUnknownDrift means no drift with that id exists for the CI.
var ErrUnknownDrift = errors.New("unknown drift")

// ErrResolved means the drift is already resolved.
var ErrResolved = errors.New("drift already resolved")

// Drift is one drift as the ledger knows it.
type Drift struct {
	Detected event.DriftDetected_v1
	Status   drift.Status
}

// Ledger is one CI's drift lifecycle. It is not safe for concurrent use; load one per decision.
type Ledger struct {
	ciID     string
	revision eventstore.Revision
	drifts   map[string]*Drift           // by drift id
	open     map[string]*Drift           // unresolved, by field
	caused   map[string][]event.Envelope // envelopes by causation id
	resolved map[string]time.Time        // latest resolution time, by field
}

// Stream names the event-store stream of a CI's drift lifecycle.
func Stream(ciID string) string { return event.DriftStreamPrefix + ciID }

// Load reads a CI's drift stream from the store and folds it.
func Load(ctx context.Context, store eventstore.Store, ciID string) (*Ledger, error) {
	l := &Ledger{
		ciID: ciID, revision: eventstore.NoStream,
		drifts: map[string]*Drift{}, open: map[string]*Drift{}, caused: map[string][]event.Envelope{},
		resolved: map[string]time.Time{},
	}
	const page = 512
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, Stream(ciID), from, page)
		if err != nil {
			return nil, fmt.Errorf("load drift ledger of %s: %w", ciID, err)
		}
		for _, r := range recs {
			if err := l.apply(r); err != nil {
				return nil, fmt.Errorf("load drift ledger of %s: %w", ciID, err)
			}
		}
		if len(recs) < page {
			return l, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

func (l *Ledger) apply(r eventstore.Recorded) error {
	l.revision = eventstore.Exact(r.Revision)
	env, err := event.FromStore(r)
	if err != nil {
		return err
	}
	if env.CausationID != "" {
		l.caused[env.CausationID] = append(l.caused[env.CausationID], env)
	}
	switch env.Type {
	case event.TypeDriftDetected:
		m, err := event.Decode[event.DriftDetected_v1](env)
		if err != nil {
			return err
		}
		d := &Drift{Detected: m.Fact, Status: drift.StatusOpen}
		l.drifts[m.Fact.DriftID] = d
		l.open[m.Fact.Field] = d
	case event.TypeDriftAcknowledged:
		m, err := event.Decode[event.DriftAcknowledged_v1](env)
		if err != nil {
			return err
		}
		if d := l.drifts[m.Fact.DriftID]; d != nil && d.Status == drift.StatusOpen {
			d.Status = drift.StatusAcknowledged
		}
	case event.TypeDriftResolved:
		m, err := event.Decode[event.DriftResolved_v1](env)
		if err != nil {
			return err
		}
		if m.Fact.ResolvedAt.After(l.resolved[m.Fact.Field]) {
			l.resolved[m.Fact.Field] = m.Fact.ResolvedAt
		}
		if d := l.drifts[m.Fact.DriftID]; d != nil {
			d.Status = drift.StatusResolved
			if l.open[d.Detected.Field] == d {
				delete(l.open, d.Detected.Field)
			}
		}
	}
	return nil
}

// Open returns the unresolved (open or acknowledged) drift on field, if any.
func (l *Ledger) Open(field string) (Drift, bool) {
	d, ok := l.open[field]
	if !ok {
		return Drift{}, false
	}
	return *d, true
}

// LastResolved returns when the latest drift on field was resolved (as observed), if ever.
func (l *Ledger) LastResolved(field string) (time.Time, bool) {
	t, ok := l.resolved[field]
	return t, ok
}

// Unresolved returns every unresolved drift.
func (l *Ledger) Unresolved() []Drift {
	out := make([]Drift, 0, len(l.open))
	for _, d := range l.open {
		out = append(out, *d)
	}
	return out
}

// Get returns the drift with the given id.
func (l *Ledger) Get(driftID string) (Drift, bool) {
	d, ok := l.drifts[driftID]
	if !ok {
		return Drift{}, false
	}
	return *d, true
}

// CausedBy returns the envelopes already recorded as caused by the fact with id causationID,
// in order: a decision redelivered after it was committed finds its earlier outcome here.
func (l *Ledger) CausedBy(causationID string) []event.Envelope { return l.caused[causationID] }

// Acknowledge decides an acknowledgement of an open drift. It returns ok=false and no error
// when the drift is already acknowledged.
func (l *Ledger) Acknowledge(driftID, by, comment string, at time.Time) (rec event.Record, ok bool, err error) {
	d, found := l.drifts[driftID]
	switch {
	case !found:
		return rec, false, fmt.Errorf("acknowledge %s: %w", driftID, ErrUnknownDrift)
	case d.Status == drift.StatusResolved:
		return rec, false, fmt.Errorf("acknowledge %s: %w", driftID, ErrResolved)
	case d.Status == drift.StatusAcknowledged:
		return rec, false, nil
	}
	return event.Record{
		ID:      event.DeriveID("drift-acknowledged", driftID),
		Subject: l.ciID,
		Time:    at,
		Fact:    event.DriftAcknowledged_v1{DriftID: driftID, CIID: l.ciID, By: by, Comment: comment, AcknowledgedAt: at.UTC()},
	}, true, nil
}

// Commit appends decided records to the CI's drift stream, expecting it unchanged since Load.
// If another writer got there first the error wraps eventstore.ErrWrongRevision: load again
// and decide again.
func (l *Ledger) Commit(ctx context.Context, store eventstore.Store, recs ...event.Record) error {
	if len(recs) == 0 {
		return nil
	}
	evs := make([]eventstore.Event, len(recs))
	for i, r := range recs {
		ev, stream, err := r.StoreEvent()
		if err != nil {
			return err
		}
		if stream != Stream(l.ciID) {
			return fmt.Errorf("commit %s to drift ledger of %s: it belongs to stream %q", ev.Type, l.ciID, stream)
		}
		evs[i] = ev
	}
	if _, err := store.Append(ctx, Stream(l.ciID), l.revision, evs...); err != nil {
		return fmt.Errorf("commit to drift ledger of %s: %w", l.ciID, err)
	}
	return nil
}
