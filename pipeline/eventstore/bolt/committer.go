package bolt

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// commitLoop is the committer: it takes the Appends queued so far, up to MaxBatch, commits
// them in one transaction, answers each, and repeats until Close closes the queue. Appends
// queued before Close are still committed.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*appendReq, 0, s.cfg.MaxBatch)
	for req := range s.reqs {
		batch = append(batch[:0], req)
	gather:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// commit applies batch in one transaction, in order, so that later appends see earlier ones
// (two appends to one stream in one batch work as if sequential). A revision conflict fails
// only its own request, which then writes nothing; a storage failure fails the whole batch,
// since nothing of it is durable.
func (s *Store) commit(batch []*appendReq) {
	replies := make([]appendReply, len(batch))
	wrote := false
	now := time.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := openBuckets(tx)
		for i, req := range batch {
			rep, n, err := b.apply(req, now)
			if err != nil {
				return err
			}
			replies[i] = rep
			wrote = wrote || n > 0
		}
		return nil
	})
	if err != nil {
		for i, req := range batch {
			replies[i] = appendReply{err: fmt.Errorf("append to %s: commit batch of %d appends: %w", req.parts[0].stream, len(batch), err)}
		}
		wrote = false
	} else {
		s.commits.Add(1)
	}
	for i, req := range batch {
		req.reply <- replies[i]
	}
	if wrote {
		s.notify.broadcast()
	}
}

// txBuckets are the buckets of one write transaction.
type txBuckets struct {
	events, streams, ids *bbolt.Bucket
}

func openBuckets(tx *bbolt.Tx) txBuckets {
	b := txBuckets{
		events:  tx.Bucket(bucketEvents),
		streams: tx.Bucket(bucketStreams),
		ids:     tx.Bucket(bucketIDs),
	}
	// Positions only grow: full pages waste no space and split less.
	b.events.FillPercent = 1
	return b
}

// apply writes the new events of every part of req, or none of them: each part is checked
// first (events already stored, expected revision; parts of one request see each other), and
// a conflict answers the request with a WrongRevisionError without writing. It returns how
// many events it wrote; an error means the transaction cannot go on.
func (b txBuckets) apply(req *appendReq, now time.Time) (appendReply, int, error) {
	plans := make([]partPlan, len(req.parts))
	heads := map[string]partHead{} // heads as earlier parts of this request leave them
	seen := map[uuid.UUID]bool{}   // ids written by earlier parts of this request
	for i, p := range req.parts {
		plan, err := b.plan(p, heads, seen)
		if err != nil {
			return appendReply{}, 0, fmt.Errorf("stream %s: %w", p.stream, err)
		}
		if plan.conflict != nil {
			return appendReply{err: plan.conflict}, 0, nil
		}
		plans[i] = plan
	}
	rep := appendReply{res: make([]eventstore.AppendResult, len(req.parts))}
	wrote := 0
	for i, p := range req.parts {
		res, n, err := b.write(p, plans[i], now)
		if err != nil {
			return appendReply{}, 0, fmt.Errorf("stream %s: %w", p.stream, err)
		}
		rep.res[i] = res
		wrote += n
	}
	return rep, wrote, nil
}

// partHead is a stream's head while a request is planned.
type partHead struct {
	rev    uint64
	exists bool
}

// partPlan is what one part will write: its fresh events from revision rev, or, when every
// event is stored, the result of the stored copy of its last one.
type partPlan struct {
	fresh    []pending
	rev      uint64
	stored   eventstore.AppendResult
	pending  bool // the stored result is that of an event an earlier part writes
	conflict error
}

// plan checks one part against the store and the earlier parts of its request.
func (b txBuckets) plan(p appendPart, heads map[string]partHead, seen map[uuid.UUID]bool) (partPlan, error) {
	var plan partPlan
	for _, e := range p.events {
		if seen[e.id] || b.ids.Get(e.id[:]) != nil {
			continue
		}
		seen[e.id] = true
		plan.fresh = append(plan.fresh, e)
	}
	if len(plan.fresh) == 0 {
		last := p.events[len(p.events)-1].id
		if b.ids.Get(last[:]) == nil {
			// Written by an earlier part of this request: its result is known only then.
			plan.pending = true
			return plan, nil
		}
		res, err := b.storedResult(last)
		plan.stored = res
		return plan, err
	}
	h, ok := heads[p.stream]
	if !ok {
		h.rev, h.exists = b.head(p.stream)
	}
	if !matches(p.expected, h.rev, h.exists) {
		actual := int64(-1)
		if h.exists {
			actual = int64(h.rev)
		}
		plan.conflict = &eventstore.WrongRevisionError{Stream: p.stream, Expected: p.expected, Actual: actual}
		return plan, nil
	}
	plan.rev = 0
	if h.exists {
		plan.rev = h.rev + 1
	}
	heads[p.stream] = partHead{rev: plan.rev + uint64(len(plan.fresh)) - 1, exists: true}
	return plan, nil
}

// write makes one planned part.
func (b txBuckets) write(p appendPart, plan partPlan, now time.Time) (eventstore.AppendResult, int, error) {
	if len(plan.fresh) == 0 {
		if plan.pending {
			res, err := b.storedResult(p.events[len(p.events)-1].id)
			return res, 0, err
		}
		return plan.stored, 0, nil
	}
	prefix := streamPrefix(p.stream)
	rev := plan.rev
	var pos uint64
	for i := range plan.fresh {
		var err error
		if pos, err = b.events.NextSequence(); err != nil {
			return eventstore.AppendResult{}, 0, fmt.Errorf("next position: %w", err)
		}
		key := u64(pos)
		if err := b.events.Put(key, encodeRecord(p.stream, rev, plan.fresh[i], now)); err != nil {
			return eventstore.AppendResult{}, 0, fmt.Errorf("put event: %w", err)
		}
		if err := b.ids.Put(plan.fresh[i].id[:], key); err != nil {
			return eventstore.AppendResult{}, 0, fmt.Errorf("put id index: %w", err)
		}
		if err := b.streams.Put(streamKey(prefix, rev), key); err != nil {
			return eventstore.AppendResult{}, 0, fmt.Errorf("put stream index: %w", err)
		}
		rev++
	}
	return eventstore.AppendResult{NextRevision: rev - 1, Position: eventstore.Position(pos)}, len(plan.fresh), nil
}

// head returns the revision of the last event of stream, if it exists.
func (b txBuckets) head(stream string) (uint64, bool) {
	rev, _, ok := streamHead(b.streams, streamPrefix(stream))
	return rev, ok
}

// storedResult is the result an append of the stored event id got.
func (b txBuckets) storedResult(id uuid.UUID) (eventstore.AppendResult, error) {
	key := b.ids.Get(id[:])
	r, err := decodeRecord(beUint64(key), b.events.Get(key))
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return eventstore.AppendResult{NextRevision: r.Revision, Position: r.Position}, nil
}

// matches reports whether a stream at head (if it exists) satisfies expected.
func matches(expected eventstore.Revision, head uint64, exists bool) bool {
	switch expected {
	case eventstore.Any:
		return true
	case eventstore.NoStream:
		return !exists
	case eventstore.StreamExists:
		return exists
	default:
		return exists && uint64(expected) == head
	}
}
