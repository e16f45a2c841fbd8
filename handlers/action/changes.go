package action

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Changes is an ITSM system's change calendar: which approved change requests are being
// implemented on a CI. A drift observed on a CI in such a change's implementation window
// is that change's doing: planned (see Planner).
type Changes interface {
	// InWindow returns the approved changes on CI ciID whose implementation window (planned
	// start to planned end) holds at, earliest start first; none is not an error.
	InWindow(ctx context.Context, ciID string, at time.Time) ([]Change, error)
}

// Change is an approved change request and its implementation window.
type Change struct {
	// Number is the ticket's number ("CHG0030042"); Summary its short description.
	Number  string
	Summary string
	Start   time.Time
	End     time.Time
}

// CacheChanges returns c answering each CI from what it answered less than ttl before for
// it, so that the planner and the notify stage, which both ask when a drift opens, cost the
// ITSM system one query when they share the cache (one process), and a burst of drifts on
// one CI one query too. Questions asked at once about one CI and time share one query; it
// runs until the first asker's deadline, whether or not that asker stops waiting. An answer
// is reused for times less than ttl from the one it was asked for, keeping the changes whose
// window holds the time asked: a change approved or scheduled meanwhile is seen up to ttl
// late. Errors are not cached.
func CacheChanges(c Changes, ttl time.Duration, now func() time.Time) Changes {
	return &changeCache{next: c, ttl: ttl, now: now, byCI: map[string]cachedChanges{}}
}

type changeCache struct {
	next   Changes
	ttl    time.Duration
	now    func() time.Time
	flight singleflight.Group

	mu   sync.Mutex
	byCI map[string]cachedChanges
}

// cachedChanges is one answer: when it was asked, for what time, and the changes.
type cachedChanges struct {
	asked, at time.Time
	changes   []Change
}

// maxCachedCIs bounds the cache; past it, it starts again empty.
const maxCachedCIs = 10_000

func (c *changeCache) InWindow(ctx context.Context, ciID string, at time.Time) ([]Change, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.byCI[ciID]
	c.mu.Unlock()
	if ok && now.Sub(e.asked) < c.ttl && !e.asked.After(now) && at.Sub(e.at).Abs() < c.ttl {
		var out []Change
		for _, ch := range e.changes {
			if ch.Holds(at) {
				out = append(out, ch)
			}
		}
		return out, nil
	}
	key := ciID + "\x00" + at.UTC().Format(time.RFC3339Nano)
	answer := c.flight.DoChan(key, func() (any, error) {
		// The query outlives the asker's cancellation, not its deadline: another asker
		// may be waiting for it.
		qctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok {
			qctx, cancel = context.WithDeadline(qctx, deadline)
		}
		defer cancel()
		changes, err := c.next.InWindow(qctx, ciID, at)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if len(c.byCI) >= maxCachedCIs {
			clear(c.byCI)
		}
		c.byCI[ciID] = cachedChanges{asked: now, at: at, changes: changes}
		c.mu.Unlock()
		return changes, nil
	})
	select {
	case r := <-answer:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]Change), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Holds reports whether the change's implementation window holds t (both ends included).
func (c Change) Holds(t time.Time) bool { return !t.Before(c.Start) && !t.After(c.End) }
