package eventstore

import (
	"context"
	"fmt"
	"sync"
)

// Watch lets many callers wait for an event on a stream at the cost of one subscription: it
// follows the store while anyone waits (subscribing when the first waiter comes, ending the
// subscription when the last one leaves) and wakes the waiters of a stream when an event is
// appended to it; each waiter then reads its stream where it left off. It is safe for
// concurrent use; the zero Watch is not usable, make one with NewWatch.
type Watch struct {
	store Store

	mu      sync.Mutex
	waiters map[string]map[*waiter]struct{} // by stream
	count   int
	run     *watchRun // the running subscription; nil when none
	opened  int       // subscriptions opened so far
}

// watchRun is one subscription of a Watch.
type watchRun struct{ cancel context.CancelFunc }

// waiter is one caller waiting on a stream; wake holds at most one pending wake-up.
type waiter struct{ wake chan struct{} }

// NewWatch returns a Watch over store.
func NewWatch(store Store) *Watch {
	return &Watch{store: store, waiters: map[string]map[*waiter]struct{}{}}
}

// Subscriptions returns how many subscriptions the Watch has opened so far.
func (w *Watch) Subscriptions() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opened
}

// Waiters returns how many callers wait now.
func (w *Watch) Waiters() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// Await returns the first event of stream after position after that match accepts, waiting
// for it until ctx ends (then the error wraps ctx's).
func (w *Watch) Await(ctx context.Context, stream string, after Position, match func(Recorded) bool) (Recorded, error) {
	wt := &waiter{wake: make(chan struct{}, 1)}
	w.register(stream, wt, after)
	defer w.unregister(stream, wt)
	const page = 256
	var from uint64
	for {
		// Registered first, read second: an event appended after the read wakes the waiter.
		for {
			recs, err := w.store.ReadStream(ctx, stream, from, page)
			if err != nil {
				return Recorded{}, fmt.Errorf("read %s: %w", stream, err)
			}
			for _, rec := range recs {
				from = rec.Revision + 1
				if rec.Position > after && match(rec) {
					return rec, nil
				}
			}
			if len(recs) < page {
				break
			}
		}
		select {
		case <-wt.wake:
			w.follow(after)
		case <-ctx.Done():
			return Recorded{}, fmt.Errorf("wait for an event of %s after %d: %w", stream, after, ctx.Err())
		}
	}
}

func (w *Watch) register(stream string, wt *waiter, after Position) {
	w.mu.Lock()
	if w.waiters[stream] == nil {
		w.waiters[stream] = map[*waiter]struct{}{}
	}
	w.waiters[stream][wt] = struct{}{}
	w.count++
	w.mu.Unlock()
	w.follow(after)
}

func (w *Watch) unregister(stream string, wt *waiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiters[stream], wt)
	if len(w.waiters[stream]) == 0 {
		delete(w.waiters, stream)
	}
	w.count--
	if w.count == 0 && w.run != nil {
		w.run.cancel()
		w.run = nil
	}
}

// follow starts a subscription after position after unless one runs (or nobody waits).
func (w *Watch) follow(after Position) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.run != nil || w.count == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &watchRun{cancel: cancel}
	w.run = run
	w.opened++
	go w.dispatch(ctx, run, after)
}

// dispatch wakes the waiters of each event's stream until its subscription ends. When it
// ends on its own (the store failed), every waiter is woken, so that the next one to wait
// subscribes again; a store that refuses to subscribe leaves them to their deadlines.
func (w *Watch) dispatch(ctx context.Context, run *watchRun, after Position) {
	defer run.cancel()
	sub, err := SubscribeFiltered(ctx, w.store, after, w.wanted)
	if err == nil {
		for rec := range sub.Events() {
			w.wakeStream(rec.Stream)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.run == run {
		w.run = nil
		if err != nil {
			return // the store refuses: waiters wait out their deadline rather than spin
		}
		for _, ws := range w.waiters {
			for wt := range ws {
				wake(wt)
			}
		}
	}
}

// wanted is the subscription's filter: events of streams someone waits on.
func (w *Watch) wanted(stream, _ string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiters[stream]) > 0
}

func (w *Watch) wakeStream(stream string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wt := range w.waiters[stream] {
		wake(wt)
	}
}

func wake(wt *waiter) {
	select {
	case wt.wake <- struct{}{}:
	default: // a wake-up is pending already: the waiter reads everything new anyway
	}
}
