package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/api"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

// subscriptionCounter is a store that counts the subscriptions opened on it.
type subscriptionCounter struct {
	eventstore.Store
	n atomic.Int32
}

func (s *subscriptionCounter) Subscribe(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	s.n.Add(1)
	return s.Store.Subscribe(ctx, after)
}

func TestWaitingActionRequestsShareOneSubscription(t *testing.T) {
	t.Parallel()
	store := &subscriptionCounter{Store: memstore.New()}
	f := newFixtureOn(t, store, api.Config{})
	const waiting = 12
	for i := range waiting {
		f.record(detected(fmt.Sprintf("d%d", i), fmt.Sprintf("web-%d", i), "/networks", drift.SeverityHigh, drift.CategoryNetwork, i))
	}
	before := store.n.Load() // the read models' own

	var wg sync.WaitGroup
	answers := make([]actionAnswer, waiting)
	statuses := make([]int, waiting)
	for i := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.do(http.MethodPost, fmt.Sprintf("/drift/events/d%d/quarantine", i), "", nil)
			statuses[i] = r.status
			r.want(t, http.StatusOK, &answers[i])
		}()
	}
	// Every request waits (the API's gauge says so) before any outcome comes.
	deadline := time.Now().Add(5 * time.Second)
	want := fmt.Sprintf("driftwatch_api_action_waiters %d\n", waiting)
	for !strings.Contains(string(f.do(http.MethodGet, "/metrics", "", nil).body), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the requests do not all wait: no %q in /metrics", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range waiting {
		ci := fmt.Sprintf("web-%d", i)
		f.outcome(ci, event.ActionSucceeded_v1{ActionID: event.ActionID(fmt.Sprintf("d%d", i), drift.ActionKindQuarantine), Kind: drift.ActionKindQuarantine, CIID: ci, Changed: true})
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != "succeeded" {
			t.Fatalf("request %d: %d %+v", i, statuses[i], a)
		}
	}
	if n := store.n.Load() - before; n != 1 {
		t.Fatalf("%d waiting requests opened %d subscriptions, want 1", waiting, n)
	}
}
