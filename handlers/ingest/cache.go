package ingest

import (
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// ciEntry is what ingest knows of a CI's observation stream: its last event and the state it
// leaves the CI in.
type ciEntry struct {
	exists     bool
	revision   uint64
	position   eventstore.Position
	lastID     string // id of the last event
	received   bool   // the last event is an ObservationReceived_v2
	hash       string // the CI's state
	observedAt time.Time
	recordedAt time.Time // when the last event was recorded (its received_at)
	repeats    int       // unchanged observations since the last event, not yet recorded
	published  bool      // the last event was published by this process (see Published)
}

// ciCache holds entries for recently seen CIs and serialises decisions per CI.
type ciCache struct {
	max   int
	seed  maphash.Seed
	locks [256]sync.Mutex

	mu      sync.Mutex
	entries map[string]*ciEntry
}

func newCICache(max int) *ciCache {
	return &ciCache{max: max, seed: maphash.MakeSeed(), entries: map[string]*ciEntry{}}
}

// lock serialises the decisions on one CI (and some others that share its stripe).
func (c *ciCache) lock(ci string) func() {
	m := &c.locks[maphash.String(c.seed, ci)%uint64(len(c.locks))]
	m.Lock()
	return m.Unlock
}

// get returns the cached entry of ci, if any. Call it with ci's lock held.
func (c *ciCache) get(ci string) *ciEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[ci]
}

// put caches e for ci, forgetting about half of the entries when the cache is full (any
// entry can be read again from the store). Call it with ci's lock held.
func (c *ciCache) put(ci string, e *ciEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[ci]; !ok && len(c.entries) >= c.max {
		n := 0
		for k := range c.entries {
			delete(c.entries, k)
			if n++; n >= c.max/2 {
				break
			}
		}
	}
	c.entries[ci] = e
}

// drop forgets ci, so that its stream is read again. Call it with ci's lock held.
func (c *ciCache) drop(ci string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, ci)
}

// rawCache remembers the canonical hash of state bytes already checked, so that a state sent
// again byte for byte is neither parsed nor canonicalised again.
type rawCache struct {
	max int

	mu      sync.Mutex
	entries map[[32]byte]string
}

func newRawCache(max int) *rawCache { return &rawCache{max: max, entries: map[[32]byte]string{}} }

func (r *rawCache) get(sum [32]byte) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.entries[sum]
	return h, ok
}

func (r *rawCache) put(sum [32]byte, hash string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.max {
		n := 0
		for k := range r.entries {
			delete(r.entries, k)
			if n++; n >= r.max/2 {
				break
			}
		}
	}
	r.entries[sum] = hash
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
