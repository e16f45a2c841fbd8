// Package ledger folds one CI's drift stream (drift-<ci_id>: detected, acknowledged,
// planned, escalated, resolved) into its current drifts, and commits decisions on it with
// optimistic concurrency, so that there is at most one unresolved drift per (CI, field)
// whatever the number of
// workers.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// maxCaused bounds how many decisions a ledger remembers by cause: a redelivered verdict is a
// recent one, and one older than that decides again onto the same derived ids.
const maxCaused = 256

// ErrUnknownDrift means no drift with that id exists for the CI.
var ErrUnknownDrift = errors.New("unknown drift")

// ErrResolved means the drift is already resolved.
var ErrResolved = errors.New("drift already resolved")

// Drift is one drift as the ledger knows it.
type Drift struct {
	Detected event.DriftDetected_v1
	Status   drift.Status
	// Actual is the field's latest actual value: Detected.Actual, or the last update's.
	Actual json.RawMessage
	// PlannedChange names the change a planned drift is part of; empty when unplanned.
	PlannedChange string
}

// Ledger is one CI's drift lifecycle. It is not safe for concurrent use; load one per decision.
type Ledger struct {
	ciID     string
	revision eventstore.Revision
	drifts   map[string]*Drift           // by drift id
	open     map[string]*Drift           // unresolved, by field
	caused   map[string][]event.Envelope // envelopes by causation id, of the last maxCaused causes
	causes   []string                    // causation ids in caused, oldest first
	resolved map[string]time.Time        // latest resolution time, by field
}

// Stream names the event-store stream of a CI's drift lifecycle.
func Stream(ciID string) string { return event.DriftStreamPrefix + ciID }

// Load reads a CI's drift stream from the store and folds it.
func Load(ctx context.Context, store eventstore.Store, ciID string) (*Ledger, error) {
	l := newLedger(ciID)
	if err := l.catchUp(ctx, store); err != nil {
		return nil, err
	}
	return l, nil
}

func newLedger(ciID string) *Ledger {
	return &Ledger{
		ciID: ciID, revision: eventstore.NoStream,
		drifts: map[string]*Drift{}, open: map[string]*Drift{}, caused: map[string][]event.Envelope{},
		resolved: map[string]time.Time{},
	}
}

// catchUp folds the events of the stream after the ledger's revision.
func (l *Ledger) catchUp(ctx context.Context, store eventstore.Store) error {
	const page = 512
	from := uint64(0)
	if l.revision >= 0 {
		from = uint64(l.revision) + 1
	}
	for {
		recs, err := store.ReadStream(ctx, Stream(l.ciID), from, page)
		if err != nil {
			return fmt.Errorf("load drift ledger of %s: %w", l.ciID, err)
		}
		for _, r := range recs {
			if err := l.apply(r); err != nil {
				return fmt.Errorf("load drift ledger of %s: %w", l.ciID, err)
			}
		}
		if len(recs) < page {
			return nil
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
	if c := env.CausationID; c != "" {
		if _, ok := l.caused[c]; !ok {
			l.causes = append(l.causes, c)
			if len(l.causes) > maxCaused {
				delete(l.caused, l.causes[0])
				l.causes = l.causes[1:]
			}
		}
		l.caused[c] = append(l.caused[c], env)
	}
	switch env.Type {
	case event.TypeDriftDetected:
		m, err := event.Decode[event.DriftDetected_v1](env)
		if err != nil {
			return err
		}
		d := &Drift{Detected: m.Fact, Status: drift.StatusOpen, Actual: m.Fact.Actual}
		l.drifts[m.Fact.DriftID] = d
		l.open[m.Fact.Field] = d
	case event.TypeDriftUpdated:
		m, err := event.Decode[event.DriftUpdated_v1](env)
		if err != nil {
			return err
		}
		if d := l.drifts[m.Fact.DriftID]; d != nil {
			d.Actual = m.Fact.Actual
		}
	case event.TypeDriftAcknowledged:
		m, err := event.Decode[event.DriftAcknowledged_v1](env)
		if err != nil {
			return err
		}
		if d := l.drifts[m.Fact.DriftID]; d != nil && d.Status == drift.StatusOpen {
			d.Status = drift.StatusAcknowledged
		}
	case event.TypeDriftPlanned:
		m, err := event.Decode[event.DriftPlanned_v1](env)
		if err != nil {
			return err
		}
		if d := l.drifts[m.Fact.DriftID]; d != nil {
			d.PlannedChange = m.Fact.Change
		}
	case event.TypeDriftEscalated:
		m, err := event.Decode[event.DriftEscalated_v1](env)
		if err != nil {
			return err
		}
		if d := l.drifts[m.Fact.DriftID]; d != nil && d.Status != drift.StatusResolved {
			d.Status = drift.StatusEscalated
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

// Commit appends decided records to the CI's drift stream, expecting it unchanged since Load,
// and sets each record's Position. If another writer got there first the error wraps
// eventstore.ErrWrongRevision: load again and decide again.
func (l *Ledger) Commit(ctx context.Context, store eventstore.Store, recs ...event.Record) error {
	if len(recs) == 0 {
		return nil
	}
	appends := make([]eventstore.Append, len(recs))
	expected := l.revision
	for i, r := range recs {
		ev, stream, err := r.StoreEvent()
		if err != nil {
			return err
		}
		if stream != Stream(l.ciID) {
			return fmt.Errorf("commit %s to drift ledger of %s: it belongs to stream %q", ev.Type, l.ciID, stream)
		}
		appends[i] = eventstore.Append{Stream: stream, Expected: expected, Events: []eventstore.Event{ev}}
		if expected < 0 {
			expected = eventstore.Exact(0)
		} else {
			expected++
		}
	}
	res, err := store.AppendMany(ctx, appends)
	if err != nil {
		return fmt.Errorf("commit to drift ledger of %s: %w", l.ciID, err)
	}
	for i := range recs {
		recs[i].Position = res[i].Position
	}
	return nil
}

// Cache keeps the ledgers of recently decided CIs, so that a decision reads only what was
// appended to a CI's drift stream since the last one instead of the whole stream. It is safe
// for concurrent use; a CI's ledger is handed to one caller at a time.
type Cache struct {
	store eventstore.Store
	max   int

	mu      sync.Mutex
	ledgers map[string]*cached
}

type cached struct {
	mu sync.Mutex
	l  *Ledger
}

// NewCache returns a cache of up to max ledgers over store.
func NewCache(store eventstore.Store, max int) *Cache {
	return &Cache{store: store, max: max, ledgers: map[string]*cached{}}
}

// With runs fn with the CI's ledger brought up to date with its stream. fn's error is
// returned; after any error the cached ledger is dropped, so that the next call reads the
// stream again.
func (c *Cache) With(ctx context.Context, ciID string, fn func(*Ledger) error) error {
	c.mu.Lock()
	e, ok := c.ledgers[ciID]
	if !ok {
		if len(c.ledgers) >= c.max {
			for k := range c.ledgers {
				delete(c.ledgers, k)
				if len(c.ledgers) < c.max/2 {
					break
				}
			}
		}
		e = &cached{}
		c.ledgers[ciID] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.l == nil {
		e.l = newLedger(ciID)
	}
	err := e.l.catchUp(ctx, c.store)
	if err == nil {
		err = fn(e.l)
	}
	if err != nil {
		e.l = nil
	}
	return err
}
