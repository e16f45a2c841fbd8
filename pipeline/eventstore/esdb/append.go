package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// maxAttempts bounds how often Append goes back to the tail after losing a race whose
// outcome the tail does not explain.
const maxAttempts = 8

// Append adds the events not yet in the stream's last DedupWindow events to stream, if it
// is at expected (see the package doc for the idempotency check and its limits).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Revision, events ...eventstore.Event) (eventstore.AppendResult, error) {
	data, err := eventData(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	for attempt := 1; ; attempt++ {
		t, err := s.readTail(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: read stream tail: %w", stream, err)
		}
		fresh, stored := t.split(data)
		if len(fresh) == 0 {
			return stored, nil
		}
		if !t.matches(expected) {
			return eventstore.AppendResult{}, &eventstore.WrongRevisionError{Stream: stream, Expected: expected, Actual: t.actual()}
		}
		if attempt > maxAttempts {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: lost %d races to concurrent appends", stream, maxAttempts)
		}
		res, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}, fresh...)
		if isCode(err, esdb.ErrorCodeWrongExpectedVersion) {
			// A concurrent append got there first, possibly with these very events: the
			// next look at the tail tells which.
			continue
		}
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		return eventstore.AppendResult{NextRevision: res.NextExpectedVersion, Position: eventstore.Position(res.CommitPosition)}, nil
	}
}

// AppendMany makes the appends one after another: EventStoreDB has no transaction across
// streams. It stops at the first error; the appends before it are made, and calling again
// with the same events is safe (see eventstore.Store).
func (s *Store) AppendMany(ctx context.Context, appends []eventstore.Append) ([]eventstore.AppendResult, error) {
	if len(appends) == 0 {
		return nil, errors.New("append: no appends")
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

// expectedRevision maps the port's expected revision to the client's.
func expectedRevision(r eventstore.Revision) esdb.ExpectedRevision {
	switch r {
	case eventstore.Any:
		return esdb.Any{}
	case eventstore.NoStream:
		return esdb.NoStream{}
	case eventstore.StreamExists:
		return esdb.StreamExists{}
	default:
		return esdb.Revision(uint64(r))
	}
}

// eventData checks an append and converts its events, reporting every problem at once.
func eventData(stream string, expected eventstore.Revision, events []eventstore.Event) ([]esdb.EventData, error) {
	ids, err := eventstore.CheckAppend(stream, expected, events)
	if err != nil {
		return nil, err
	}
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		data[i] = esdb.EventData{EventID: ids[i], EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data}
	}
	return data, nil
}

// tail is what the last events of a stream tell an append.
type tail struct {
	exists   bool
	revision uint64
	// stored holds, per event ID in the window, the result its append got.
	stored map[uuid.UUID]eventstore.AppendResult
}

// readTail reads the last DedupWindow events of stream, newest first.
func (s *Store) readTail(ctx context.Context, stream string) (tail, error) {
	t := tail{stored: map[uuid.UUID]eventstore.AppendResult{}}
	opts := esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}
	rs, err := s.client.ReadStream(ctx, stream, opts, uint64(s.cfg.DedupWindow))
	if err != nil {
		return tail{}, err
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return t, nil
		case isCode(err, esdb.ErrorCodeResourceNotFound):
			return tail{stored: t.stored}, nil
		case err != nil:
			return tail{}, err
		case ev.Event == nil:
			continue
		}
		if !t.exists {
			t.exists, t.revision = true, ev.Event.EventNumber
		}
		t.stored[ev.Event.EventID] = eventstore.AppendResult{NextRevision: ev.Event.EventNumber, Position: eventstore.Position(ev.Event.Position.Commit)}
	}
}

// split returns the events to write: those not stored and not repeated in the append. When
// there are none, stored is the result of the stored copy of the last event.
func (t tail) split(events []esdb.EventData) (fresh []esdb.EventData, stored eventstore.AppendResult) {
	seen := make(map[uuid.UUID]bool, len(events))
	for _, e := range events {
		if _, ok := t.stored[e.EventID]; ok || seen[e.EventID] {
			continue
		}
		seen[e.EventID] = true
		fresh = append(fresh, e)
	}
	return fresh, t.stored[events[len(events)-1].EventID]
}

// matches reports whether the stream satisfies expected.
func (t tail) matches(expected eventstore.Revision) bool {
	switch expected {
	case eventstore.Any:
		return true
	case eventstore.NoStream:
		return !t.exists
	case eventstore.StreamExists:
		return t.exists
	default:
		return t.exists && t.revision == uint64(expected)
	}
}

// actual is the stream's revision as WrongRevisionError reports it.
func (t tail) actual() int64 {
	if !t.exists {
		return -1
	}
	return int64(t.revision)
}
