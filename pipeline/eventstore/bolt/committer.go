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
// only its own append; a storage failure fails the whole batch, since nothing of it is durable.
func (s *Store) commit(batch []*appendReq) {
	replies := make([]appendReply, len(batch))
	wrote := false
	now := time.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := openBuckets(tx)
		for i, req := range batch {
			rep, n, err := b.apply(req, now)
			if err != nil {
				return fmt.Errorf("stream %s: %w", req.stream, err)
			}
			replies[i] = rep
			wrote = wrote || n > 0
		}
		return nil
	})
	if err != nil {
		for i, req := range batch {
			replies[i] = appendReply{err: fmt.Errorf("append to %s: commit batch of %d appends: %w", req.stream, len(batch), err)}
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
	events, streams, heads, ids *bbolt.Bucket
}

func openBuckets(tx *bbolt.Tx) txBuckets {
	b := txBuckets{
		events:  tx.Bucket(bucketEvents),
		streams: tx.Bucket(bucketStreams),
		heads:   tx.Bucket(bucketHeads),
		ids:     tx.Bucket(bucketIDs),
	}
	// Positions only grow: full pages waste no space and split less.
	b.events.FillPercent = 1
	return b
}

// apply writes the new events of req, or answers it without writing: with the stored copy
// when every event is already stored, with a WrongRevisionError on a conflict. It returns
// how many events it wrote; an error means the transaction cannot go on.
func (b txBuckets) apply(req *appendReq, now time.Time) (appendReply, int, error) {
	fresh := make([]pending, 0, len(req.events))
	var seen map[uuid.UUID]bool // IDs repeated within req; most appends carry one event
	if len(req.events) > 1 {
		seen = make(map[uuid.UUID]bool, len(req.events))
	}
	for _, e := range req.events {
		if seen[e.id] || b.ids.Get(e.id[:]) != nil {
			continue
		}
		if seen != nil {
			seen[e.id] = true
		}
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 {
		res, err := b.storedResult(req.events[len(req.events)-1].id)
		return appendReply{res: res}, 0, err
	}

	head, exists := b.head(req.stream)
	if !matches(req.expected, head, exists) {
		actual := int64(-1)
		if exists {
			actual = int64(head)
		}
		return appendReply{err: &eventstore.WrongRevisionError{Stream: req.stream, Expected: req.expected, Actual: actual}}, 0, nil
	}
	rev := uint64(0)
	if exists {
		rev = head + 1
	}
	prefix := streamPrefix(req.stream)
	var pos uint64
	for i := range fresh {
		var err error
		if pos, err = b.events.NextSequence(); err != nil {
			return appendReply{}, 0, fmt.Errorf("next position: %w", err)
		}
		key := u64(pos)
		if err := b.events.Put(key, encodeRecord(req.stream, rev, fresh[i], now)); err != nil {
			return appendReply{}, 0, fmt.Errorf("put event: %w", err)
		}
		if err := b.ids.Put(fresh[i].id[:], key); err != nil {
			return appendReply{}, 0, fmt.Errorf("put id index: %w", err)
		}
		if err := b.streams.Put(streamKey(prefix, rev), key); err != nil {
			return appendReply{}, 0, fmt.Errorf("put stream index: %w", err)
		}
		rev++
	}
	if err := b.heads.Put([]byte(req.stream), u64(rev-1)); err != nil {
		return appendReply{}, 0, fmt.Errorf("put stream head: %w", err)
	}
	return appendReply{res: eventstore.AppendResult{NextRevision: rev - 1, Position: eventstore.Position(pos)}}, len(fresh), nil
}

// head returns the revision of the last event of stream, if it exists.
func (b txBuckets) head(stream string) (uint64, bool) {
	v := b.heads.Get([]byte(stream))
	return beUint64(v), v != nil
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
