package bolt

import (
	"context"
	"errors"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// maxStreamLen bounds stream names so that every key stays far below bbolt's key limit.
const maxStreamLen = 4096

// appendReq is one Append or AppendMany waiting for the committer.
type appendReq struct {
	parts []appendPart
	reply chan appendReply // buffered: the committer never waits for a caller
}

// appendPart is one stream's share of a request.
type appendPart struct {
	stream   string
	expected eventstore.Revision
	events   []pending
}

// appendReply is the committer's answer to one appendReq: one result per part, or the error
// that made the committer write none of them.
type appendReply struct {
	res []eventstore.AppendResult
	err error
}

// Append adds events to the end of stream if it is at expected, skipping events whose ID is
// already stored (see eventstore.Store). It returns once the events are on disk. If ctx ends
// while the append is queued or being committed, Append returns ctx's error and the events
// may or may not be recorded; retrying with the same IDs is safe.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Revision, events ...eventstore.Event) (eventstore.AppendResult, error) {
	res, err := s.AppendMany(ctx, []eventstore.Append{{Stream: stream, Expected: expected, Events: events}})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMany makes every append in one transaction: all of them or, on any error, none (see
// eventstore.Store). It returns once they are on disk.
func (s *Store) AppendMany(ctx context.Context, appends []eventstore.Append) ([]eventstore.AppendResult, error) {
	req, err := newAppendReq(appends)
	if err != nil {
		return nil, err
	}
	if err := s.enqueue(ctx, req); err != nil {
		return nil, fmt.Errorf("append to %s: %w", req.parts[0].stream, err)
	}
	select {
	case rep := <-req.reply:
		return rep.res, rep.err
	case <-ctx.Done():
		return nil, fmt.Errorf("append to %s: outcome unknown: %w", req.parts[0].stream, ctx.Err())
	}
}

// enqueue hands req to the committer, unless the store is closing.
func (s *Store) enqueue(ctx context.Context, req *appendReq) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closing {
		return ErrClosed
	}
	select {
	case s.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newAppendReq checks the appends and copies their events, so that the caller may reuse its
// buffers even when it stops waiting; large data is compressed here, by the caller, not by
// the one committer. It reports every problem at once.
func newAppendReq(appends []eventstore.Append) (*appendReq, error) {
	if len(appends) == 0 {
		return nil, errors.New("append: no appends")
	}
	req := &appendReq{parts: make([]appendPart, len(appends)), reply: make(chan appendReply, 1)}
	var errs []error
	for i, a := range appends {
		ids, err := eventstore.CheckAppend(a.Stream, a.Expected, a.Events)
		if len(a.Stream) > maxStreamLen {
			err = errors.Join(err, fmt.Errorf("stream name: %d bytes, at most %d allowed", len(a.Stream), maxStreamLen))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("append to %s: %w", a.Stream, err))
			continue
		}
		part := appendPart{stream: a.Stream, expected: a.Expected, events: make([]pending, len(a.Events))}
		for j, e := range a.Events {
			data, compressed := packData(e.Data)
			part.events[j] = pending{id: ids[j], typ: e.Type, data: data, compressed: compressed}
		}
		req.parts[i] = part
	}
	return req, errors.Join(errs...)
}
