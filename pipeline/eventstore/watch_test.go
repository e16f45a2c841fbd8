package eventstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
)

// counting is a store that counts the subscriptions opened on it. It hides the embedded
// store's filtered subscriber, so that every subscription goes through Subscribe.
type counting struct {
	eventstore.Store
	subscriptions atomic.Int32
}

func (c *counting) Subscribe(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	c.subscriptions.Add(1)
	return c.Store.Subscribe(ctx, after)
}

func put(t *testing.T, s eventstore.Store, stream, typ string) eventstore.Position {
	t.Helper()
	res, err := s.Append(context.Background(), stream, eventstore.Any, eventstore.Event{ID: uuid.NewString(), Type: typ, Data: []byte(`{}`)})
	if err != nil {
		t.Error(err)
	}
	return res.Position
}

func TestWatchServesManyWaitersFromOneSubscription(t *testing.T) {
	t.Parallel()
	inner, err := bolt.Open(bolt.Config{Dir: filepath.Join(t.TempDir(), "events")})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	store := &counting{Store: inner}
	watch := eventstore.NewWatch(store)
	before := put(t, store, "action-early", "outcome")
	start := put(t, store, "other", "noise")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// One that waits for an event stored before it asked is answered from the stream.
	early, err := watch.Await(ctx, "action-early", 0, func(r eventstore.Recorded) bool { return r.Type == "outcome" })
	if err != nil || early.Position != before {
		t.Fatalf("answers_what_is_stored_already: %+v, %v", early, err)
	}
	base := watch.Subscriptions()
	const waiters = 50
	var wg sync.WaitGroup
	got := make([]eventstore.Recorded, waiters)
	errs := make([]error, waiters)
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = watch.Await(ctx, fmt.Sprintf("action-%d", i%10), start, func(r eventstore.Recorded) bool { return r.Type == "outcome" })
		}()
	}
	for watch.Waiters() < waiters {
		time.Sleep(time.Millisecond)
	}
	for i := range 10 {
		put(t, store, fmt.Sprintf("action-%d", i), "noise")
		put(t, store, fmt.Sprintf("action-%d", i), "outcome")
	}
	wg.Wait()
	for i := range waiters {
		if errs[i] != nil || got[i].Type != "outcome" || got[i].Stream != fmt.Sprintf("action-%d", i%10) {
			t.Fatalf("waiter %d: %+v, %v", i, got[i], errs[i])
		}
	}
	if n := watch.Subscriptions() - base; n != 1 || int(store.subscriptions.Load()) > watch.Subscriptions() {
		t.Fatalf("%d waiters opened %d subscriptions (the store saw %d in all); want 1", waiters, n, store.subscriptions.Load())
	}

	// With nobody waiting the subscription ends; a deadline ends a wait.
	short, cancelShort := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancelShort()
	if _, err := watch.Await(short, "action-none", put(t, store, "other", "noise"), func(eventstore.Recorded) bool { return true }); err == nil {
		t.Fatal("a wait without an event ended without an error")
	}
}
