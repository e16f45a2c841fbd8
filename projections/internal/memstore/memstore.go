// Package memstore is an in-memory eventstore.Store for the tests of the projections: the
// same append, idempotency, read and subscribe behaviour as the embedded store, without a
// file. It is safe for concurrent use. It is not meant for production: nothing is durable.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Store is an in-memory event store. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	all     []eventstore.Recorded          // global order; index i has position i+1
	streams map[string][]int               // stream -> indexes into all
	byID    map[string]eventstore.Recorded // stored events by id
	changed chan struct{}                  // closed and replaced on every append
	closed  bool
	// FailAppend, when set, is returned by the next Append instead of appending.
	FailAppend error
	// Appends counts successful Append calls, for tests that check writes.
	Appends int
}

// New returns an empty store.
func New() *Store {
	return &Store{streams: map[string][]int{}, byID: map[string]eventstore.Recorded{}, changed: make(chan struct{})}
}

// errClosed is returned by every method after Close.
var errClosed = errors.New("memstore: closed")

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Revision, events ...eventstore.Event) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if len(events) == 0 {
		return eventstore.AppendResult{}, errors.New("memstore: append without events")
	}
	for _, e := range events {
		if _, err := uuid.Parse(e.ID); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("memstore: event id %q is not a UUID", e.ID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, errClosed
	}
	if err := s.FailAppend; err != nil {
		s.FailAppend = nil
		return eventstore.AppendResult{}, err
	}
	var fresh []eventstore.Event
	seen := map[string]bool{}
	var last eventstore.Recorded
	for _, e := range events {
		if r, ok := s.byID[e.ID]; ok {
			last = r
			continue
		}
		if !seen[e.ID] {
			seen[e.ID] = true
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return eventstore.AppendResult{NextRevision: last.Revision, Position: last.Position}, nil
	}
	idx := s.streams[stream]
	actual := int64(len(idx)) - 1
	if err := check(stream, expected, actual); err != nil {
		return eventstore.AppendResult{}, err
	}
	now := time.Now().UTC()
	for _, e := range fresh {
		r := eventstore.Recorded{
			Event: e, Stream: stream, Revision: uint64(len(idx)),
			Position: eventstore.Position(len(s.all) + 1), RecordedAt: now,
		}
		idx = append(idx, len(s.all))
		s.all = append(s.all, r)
		s.byID[e.ID] = r
		last = r
	}
	s.streams[stream] = idx
	s.Appends++
	close(s.changed)
	s.changed = make(chan struct{})
	return eventstore.AppendResult{NextRevision: last.Revision, Position: last.Position}, nil
}

// check compares the expected revision with the stream's actual one (-1: no stream).
func check(stream string, expected eventstore.Revision, actual int64) error {
	ok := true
	switch expected {
	case eventstore.Any:
	case eventstore.NoStream:
		ok = actual == -1
	case eventstore.StreamExists:
		ok = actual >= 0
	default:
		ok = int64(expected) == actual
	}
	if !ok {
		return &eventstore.WrongRevisionError{Stream: stream, Expected: expected, Actual: actual}
	}
	return nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.Recorded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	idx := s.streams[stream]
	var out []eventstore.Recorded
	for i := from; i < uint64(len(idx)) && len(out) < max; i++ {
		out = append(out, s.all[idx[i]])
	}
	return out, ctx.Err()
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, max int) ([]eventstore.Recorded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var out []eventstore.Recorded
	for i := int(after); i < len(s.all) && len(out) < max; i++ {
		out = append(out, s.all[i])
	}
	return out, ctx.Err()
}

// next returns the events after after and a channel closed on the next append.
func (s *Store) next(after eventstore.Position) ([]eventstore.Recorded, <-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []eventstore.Recorded
	if int(after) < len(s.all) {
		out = append(out, s.all[after:]...)
	}
	return out, s.changed, s.closed
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	sub := &subscription{events: make(chan eventstore.Recorded)}
	go func() {
		defer close(sub.events)
		for {
			recs, changed, closed := s.next(after)
			for _, r := range recs {
				select {
				case sub.events <- r:
					after = r.Position
				case <-ctx.Done():
					return
				}
			}
			if closed {
				sub.err = errClosed
				return
			}
			if len(recs) > 0 {
				continue
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return sub, nil
}

// Close implements eventstore.Store; subscriptions end with an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.changed)
	}
	return nil
}

// Len returns how many events the store holds.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

// String describes the store for test failures.
func (s *Store) String() string { return fmt.Sprintf("memstore with %d events", s.Len()) }

type subscription struct {
	events chan eventstore.Recorded
	err    error // written before events is closed
}

// Events implements eventstore.Subscription.
func (s *subscription) Events() <-chan eventstore.Recorded { return s.events }

// Err implements eventstore.Subscription.
func (s *subscription) Err() error { return s.err }

// AppendMany implements eventstore.Store: the appends one after another, stopping at the
// first error.
func (s *Store) AppendMany(ctx context.Context, appends []eventstore.Append) ([]eventstore.AppendResult, error) {
	if len(appends) == 0 {
		return nil, errors.New("memstore: append many without appends")
	}
	out := make([]eventstore.AppendResult, len(appends))
	for i, a := range appends {
		res, err := s.Append(ctx, a.Stream, a.Expected, a.Events...)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// ReadLast implements eventstore.Store.
func (s *Store) ReadLast(ctx context.Context, stream string) (eventstore.Recorded, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Recorded{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.streams[stream]
	if len(idx) == 0 {
		return eventstore.Recorded{}, false, nil
	}
	return s.all[idx[len(idx)-1]], true, nil
}
