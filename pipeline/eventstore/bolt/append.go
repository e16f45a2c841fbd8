package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// maxStreamLen bounds stream names so that every key stays far below bbolt's key limit.
const maxStreamLen = 4096

// appendReq is one Append waiting for the committer.
type appendReq struct {
	stream   string
	expected eventstore.Revision
	events   []pending
	reply    chan appendReply // buffered: the committer never waits for a caller
}

// appendReply is the committer's answer to one appendReq.
type appendReply struct {
	res eventstore.AppendResult
	err error
}

// Append adds events to the end of stream if it is at expected, skipping events whose ID is
// already stored (see eventstore.Store). It returns once the events are on disk. If ctx ends
// while the append is queued or being committed, Append returns ctx's error and the events
// may or may not be recorded; retrying with the same IDs is safe.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Revision, events ...eventstore.Event) (eventstore.AppendResult, error) {
	req, err := newAppendReq(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	if err := s.enqueue(ctx, req); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	select {
	case rep := <-req.reply:
		return rep.res, rep.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: outcome unknown: %w", stream, ctx.Err())
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

// newAppendReq checks an append and copies its events, so that the caller may reuse its
// buffers even when it stops waiting. It reports every problem at once.
func newAppendReq(stream string, expected eventstore.Revision, events []eventstore.Event) (*appendReq, error) {
	ids, err := eventstore.CheckAppend(stream, expected, events)
	if len(stream) > maxStreamLen {
		err = errors.Join(err, fmt.Errorf("stream name: %d bytes, at most %d allowed", len(stream), maxStreamLen))
	}
	if err != nil {
		return nil, err
	}
	req := &appendReq{stream: stream, expected: expected, events: make([]pending, len(events)), reply: make(chan appendReply, 1)}
	for i, e := range events {
		req.events[i] = pending{id: ids[i], typ: e.Type, data: bytes.Clone(e.Data)}
	}
	return req, nil
}
