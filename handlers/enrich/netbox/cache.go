package netbox

import (
	"context"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// cacheKey is what a resolution depends on: the CI id and which kind is looked at first.
type cacheKey struct {
	ci      string
	vmFirst bool
}

// resolved is the outcome of one resolution; object is the name of the NetBox object it
// came from, so that invalidating that name drops it even when the CI was matched through
// driftwatch_ci.
type resolved struct {
	desired drift.Desired
	found   bool
	object  string
}

type entry struct {
	resolved
	expires time.Time
}

type call struct {
	done chan struct{}
	res  resolved
	err  error
}

// cache keeps resolutions for a TTL and lets concurrent callers for one key share one
// fetch. Errors are not kept. Any invalidation while a fetch runs keeps that fetch's answer
// out of the cache (it may predate the change), and later callers start a fetch of their
// own instead of joining it.
type cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	gen     uint64
	entries map[cacheKey]entry
	calls   map[cacheKey]*call
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, entries: map[cacheKey]entry{}, calls: map[cacheKey]*call{}}
}

// get returns the cached resolution of key or runs fetch once for all concurrent callers.
// fetch runs detached from the callers' cancellation (each of its requests has its own
// timeout), so that one caller giving up does not fail the others; a caller whose context
// ends stops waiting.
func (c *cache) get(ctx context.Context, key cacheKey, fetch func(context.Context) (resolved, error)) (resolved, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.resolved, nil
	}
	cl, ok := c.calls[key]
	if !ok {
		cl = &call{done: make(chan struct{})}
		c.calls[key] = cl
		gen := c.gen
		fctx := context.WithoutCancel(ctx)
		go func() {
			res, err := fetch(fctx)
			c.mu.Lock()
			cl.res, cl.err = res, err
			if c.calls[key] == cl {
				delete(c.calls, key)
			}
			if err == nil && c.gen == gen {
				c.entries[key] = entry{resolved: res, expires: c.now().Add(c.ttl)}
			}
			c.mu.Unlock()
			close(cl.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.res, cl.err
	case <-ctx.Done():
		return resolved{}, ctx.Err()
	}
}

// invalidate drops the entries of the CIs named in names and those resolved from NetBox
// objects named so. It costs one pass over the cache.
func (c *cache) invalidate(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	c.gen++
	clear(c.calls)
	for k, e := range c.entries {
		if set[k.ci] || (e.object != "" && set[e.object]) {
			delete(c.entries, k)
		}
	}
}

func (c *cache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.calls)
	clear(c.entries)
}
