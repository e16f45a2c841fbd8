package embedded

import (
	"slices"
	"sync"
)

// topic is the in-memory state of one topic: its last committed seq, a channel closed (and
// replaced) whenever there is something new to claim, and the state of its groups.
type topic struct {
	name string

	mu     sync.Mutex
	last   uint64
	wake   chan struct{}
	groups map[string]*group
}

func newTopic(name string, last uint64) *topic {
	return &topic{name: name, last: last, wake: make(chan struct{}), groups: make(map[string]*group)}
}

// group is the delivery state of one consumer group on one topic, shared by the group's
// subscriptions within the bus. Guarded by its topic's mu.
type group struct {
	name      string
	watermark uint64              // every seq <= watermark is acked
	next      uint64              // the lowest seq never handed out
	acked     map[uint64]struct{} // acked seqs above watermark
	retry     []uint64            // handed out, given back unacked; ascending
}

func newGroup(name string, c cursor) *group {
	g := &group{name: name, watermark: c.watermark, next: c.watermark + 1, acked: make(map[uint64]struct{})}
	for _, s := range c.acked {
		g.acked[s] = struct{}{}
	}
	return g
}

// notify wakes every subscription waiting on t. Caller holds t.mu.
func (t *topic) notify() {
	close(t.wake)
	t.wake = make(chan struct{})
}

// advance records that messages up to last are committed.
func (t *topic) advance(last uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last > t.last {
		t.last = last
		t.notify()
	}
}

// claim hands out the next message of g: a given-back one first, else the oldest never
// handed out. With nothing to hand out it returns 0 and a channel closed when that may change.
func (t *topic) claim(g *group) (uint64, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(g.retry) > 0 {
		seq := g.retry[0]
		g.retry = g.retry[1:]
		return seq, nil
	}
	for g.next <= t.last {
		seq := g.next
		g.next++
		if _, done := g.acked[seq]; done || seq <= g.watermark { // acked before a restart
			continue
		}
		return seq, nil
	}
	return 0, t.wake
}

// release gives seq back to g unacked, for another delivery.
func (t *topic) release(g *group, seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := slices.BinarySearch(g.retry, seq)
	g.retry = slices.Insert(g.retry, i, seq)
	t.notify()
}

// ack marks seq acked in g, advancing the watermark over every acked seq that follows it.
func (t *topic) ack(g *group, seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq <= g.watermark {
		return
	}
	g.acked[seq] = struct{}{}
	for {
		if _, ok := g.acked[g.watermark+1]; !ok {
			return
		}
		delete(g.acked, g.watermark+1)
		g.watermark++
	}
}

// cursor returns what to persist of g.
func (t *topic) cursor(g *group) cursor {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := cursor{watermark: g.watermark}
	if len(g.acked) > 0 {
		c.acked = make([]uint64, 0, len(g.acked))
		for s := range g.acked {
			c.acked = append(c.acked, s)
		}
		slices.Sort(c.acked)
	}
	return c
}
