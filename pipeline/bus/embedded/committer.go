package embedded

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	bolt "go.etcd.io/bbolt"
)

// appendReq is one Publish call waiting for its commit.
type appendReq struct {
	topic  string
	values [][]byte
	done   chan error // capacity 1
	last   uint64     // seq of the last value, set by the commit
}

// groupCursor is a group cursor due to be persisted.
type groupCursor struct {
	t *topic
	g *group
	c cursor
}

// commitLoop is the committer: it gathers every Publish waiting (up to MaxBatch) and the
// changed group cursors into one transaction, so that one fsync serves them all. It exits
// once stop is closed, after a last commit of the cursors.
func (b *Bus) commitLoop() {
	defer close(b.stopped)
	for {
		var batch []*appendReq
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.acks:
		case <-b.stop:
			// Close holds the life lock, so no Publish is waiting.
			b.commit(nil)
			return
		}
	gather:
		for len(batch) < b.cfg.MaxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		b.commit(batch)
	}
}

// commit writes batch and the dirty cursors, then answers every request. When the
// transaction fails, each request is retried alone so that one bad request fails alone.
func (b *Bus) commit(batch []*appendReq) {
	cursors := b.takeDirty()
	if len(batch) == 0 && len(cursors) == 0 {
		return
	}
	err := b.write(batch, cursors)
	if err != nil {
		b.log.Error("Embedded bus commit failed", err, watermill.LogFields{"requests": len(batch)})
		b.restoreDirty(cursors)
		if len(batch) > 1 {
			for _, r := range batch {
				b.commit([]*appendReq{r})
			}
			return
		}
	}
	for _, r := range batch {
		if err == nil {
			b.topicFor(r.topic).advance(r.last)
		}
		r.done <- err
	}
}

// write appends the batch and stores the cursors in one transaction.
func (b *Bus) write(batch []*appendReq, cursors []groupCursor) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		topics := tx.Bucket(bucketTopics)
		for _, r := range batch {
			tb, err := topics.CreateBucketIfNotExists([]byte(r.topic))
			if err != nil {
				return fmt.Errorf("create topic %s: %w", r.topic, err)
			}
			for _, v := range r.values {
				seq, err := tb.NextSequence()
				if err != nil {
					return fmt.Errorf("next seq of %s: %w", r.topic, err)
				}
				if err := tb.Put(seqKey(seq), v); err != nil {
					return fmt.Errorf("append to %s: %w", r.topic, err)
				}
				r.last = seq
			}
		}
		groups := tx.Bucket(bucketGroups)
		for _, gc := range cursors {
			gb, err := groups.CreateBucketIfNotExists([]byte(gc.t.name))
			if err != nil {
				return fmt.Errorf("create cursors of %s: %w", gc.t.name, err)
			}
			if err := gb.Put([]byte(gc.g.name), gc.c.encode()); err != nil {
				return fmt.Errorf("store cursor of %s on %s: %w", gc.g.name, gc.t.name, err)
			}
		}
		return nil
	})
}

// takeDirty empties the dirty set and snapshots the cursors of its groups.
func (b *Bus) takeDirty() []groupCursor {
	b.dirtyMu.Lock()
	dirty := b.dirty
	b.dirty = make(map[*group]*topic)
	b.dirtyMu.Unlock()
	out := make([]groupCursor, 0, len(dirty))
	for g, t := range dirty {
		out = append(out, groupCursor{t: t, g: g, c: t.cursor(g)})
	}
	return out
}

// restoreDirty marks the groups of a failed commit dirty again, for the next commit. It does
// not wake the committer, so a failing disk is not retried in a busy loop.
func (b *Bus) restoreDirty(cursors []groupCursor) {
	b.dirtyMu.Lock()
	defer b.dirtyMu.Unlock()
	for _, gc := range cursors {
		b.dirty[gc.g] = gc.t
	}
}
