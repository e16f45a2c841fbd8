// Package eventstore is the port to the append-only store of facts. Adapters: bolt (embedded,
// the default) and esdb (EventStoreDB). Every adapter passes the contract suite in
// internal/testsupport/storetest.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Revision is the expected revision of a stream at append time. Stream revisions count from 0:
// a stream holding one event is at revision 0.
type Revision int64

// Special expected revisions.
const (
	// Any appends whatever the stream's revision.
	Any Revision = -1
	// NoStream appends only if the stream does not exist yet.
	NoStream Revision = -2
	// StreamExists appends only if the stream has at least one event.
	StreamExists Revision = -3
)

// Exact expects the stream to be at revision r.
func Exact(r uint64) Revision { return Revision(r) }

// Position is the place of an event in the global order of all streams. Positions grow with
// each append; they need not be contiguous. The zero Position is before the first event.
type Position uint64

// Event is a fact to append.
type Event struct {
	// ID is a UUID, unique across the store. Appending an event whose ID is already stored is
	// a no-op: that is how a redelivered message is recorded once. Adapters refuse an ID that
	// is not a UUID and read IDs back in canonical form (lowercase, hyphenated).
	ID string
	// Type is the CloudEvents type.
	Type string
	// Data is the CloudEvents envelope (structured JSON mode). The producer guarantees it is
	// JSON; stores do not parse it.
	Data json.RawMessage
}

// Append is one append of AppendMany: events for stream, expected at a revision.
type Append struct {
	Stream   string
	Expected Revision
	Events   []Event
}

// Recorded is an event as read back.
type Recorded struct {
	Event
	Stream     string
	Revision   uint64
	Position   Position
	RecordedAt time.Time
}

// AppendResult tells where an append left the stream.
type AppendResult struct {
	// NextRevision is the stream's revision after the append: the revision of the last event
	// it wrote (or, when every event was already stored, of the stored copy of the last one,
	// so that a retried append gets the result of the first).
	NextRevision uint64
	// Position is the global position of the last event the append wrote (or of the stored
	// copy of its last event when every event was already stored).
	Position Position
}

// Store is the event store port.
type Store interface {
	// Append adds events to the end of stream, atomically, if the stream is at expected.
	// Events already stored (by ID) are skipped; if all are, Append succeeds without writing
	// and without checking expected. If only some are, the new ones alone are appended, in
	// order, and expected is checked as usual; an ID repeated within one call is stored once.
	// An append without events is refused. A revision mismatch returns an error wrapping
	// ErrWrongRevision.
	Append(ctx context.Context, stream string, expected Revision, events ...Event) (AppendResult, error)
	// AppendMany makes several appends, each to its own stream at its own expected revision,
	// as if by one Append call each, in order (a stream may appear more than once; later
	// appends see earlier ones). It returns one result per append. The embedded adapter
	// commits them in one transaction: all are made or, on any error, none. Adapters without
	// multi-stream transactions make them one after another and stop at the first error, so
	// earlier ones may be made; since appends are idempotent by event ID, calling again with
	// the same events is safe either way. A revision conflict returns an error wrapping
	// ErrWrongRevision that names the stream. An empty list is refused.
	AppendMany(ctx context.Context, appends []Append) ([]AppendResult, error)
	// ReadLast returns the last event of stream; found is false when the stream does not
	// exist.
	ReadLast(ctx context.Context, stream string) (rec Recorded, found bool, err error)
	// ReadStream returns up to max events of stream from revision from on, oldest first. A
	// stream that does not exist reads as empty. max must be positive.
	ReadStream(ctx context.Context, stream string, from uint64, max int) ([]Recorded, error)
	// ReadAll returns up to max events after position after, in global order. max must be
	// positive.
	ReadAll(ctx context.Context, after Position, max int) ([]Recorded, error)
	// Subscribe delivers every event after position after, in global order, then follows
	// new appends until ctx ends. The channel closes when the subscription ends; Err then
	// says why (nil after ctx ends).
	Subscribe(ctx context.Context, after Position) (Subscription, error)
	// Close releases the store.
	Close() error
}

// Filter says whether a subscriber wants an event, by its stream and type. It must be cheap
// and must not keep the strings it is given.
type Filter func(stream, typ string) bool

// FilteredSubscriber is a Store that can apply a Filter where it reads, skipping the events
// a subscriber does not want before decoding or copying them.
type FilteredSubscriber interface {
	// SubscribeFiltered is Subscribe of the events keep keeps.
	SubscribeFiltered(ctx context.Context, after Position, keep Filter) (Subscription, error)
}

// SubscribeFiltered subscribes to the events of s after position after that keep keeps: in
// the store when it is a FilteredSubscriber, else here, from its full feed.
func SubscribeFiltered(ctx context.Context, s Store, after Position, keep Filter) (Subscription, error) {
	if fs, ok := s.(FilteredSubscriber); ok {
		return fs.SubscribeFiltered(ctx, after, keep)
	}
	sub, err := s.Subscribe(ctx, after)
	if err != nil {
		return nil, err
	}
	feed := NewFeed(cap(sub.Events()))
	go func() {
		for r := range sub.Events() {
			if !keep(r.Stream, r.Type) {
				continue
			}
			select {
			case feed.Out() <- r:
			case <-ctx.Done():
				for range sub.Events() {
				}
				feed.End(nil)
				return
			}
		}
		feed.End(sub.Err())
	}()
	return feed, nil
}

// Subscription is a live, ordered feed of recorded events.
type Subscription interface {
	// Events delivers events in global order; it is closed when the subscription ends.
	Events() <-chan Recorded
	// Err reports why the subscription ended, once Events is closed.
	Err() error
}

// ErrWrongRevision means the stream was not at the expected revision.
var ErrWrongRevision = errors.New("wrong expected revision")

// WrongRevisionError details an ErrWrongRevision.
type WrongRevisionError struct {
	Stream   string
	Expected Revision
	// Actual is the stream's revision, or -1 if it does not exist.
	Actual int64
}

func (e *WrongRevisionError) Error() string {
	return fmt.Sprintf("append to %s: %v: expected %d, stream is at %d", e.Stream, ErrWrongRevision, e.Expected, e.Actual)
}

// Unwrap makes errors.Is(err, ErrWrongRevision) true.
func (e *WrongRevisionError) Unwrap() error { return ErrWrongRevision }
