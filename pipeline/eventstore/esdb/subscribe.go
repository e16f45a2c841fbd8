package esdb

import (
	"context"
	"fmt"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// subscriptionBuffer is the capacity of a subscription's channel.
const subscriptionBuffer = 64

// subscription feeds a catch-up subscription to $all into a channel.
type subscription struct {
	events chan eventstore.Recorded

	mu  sync.Mutex
	err error
}

// Events delivers events in global order; it is closed when the subscription ends.
func (s *subscription) Events() <-chan eventstore.Recorded { return s.events }

// Err reports why the subscription ended: nil when its context ended, otherwise the reason
// the server or the connection dropped it.
func (s *subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Subscribe delivers every user event after position after, in global order, then follows
// new appends until ctx ends. The server filters system events out; the subscription does
// not reconnect when dropped (Err says why), so a caller resubscribes from the last position
// it handled. after must be 0 or a position this store returned.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	opts := esdb.SubscribeToAllOptions{From: allPosition(uint64(after)), Filter: esdb.ExcludeSystemEventsFilter()}
	inner, err := s.client.SubscribeToAll(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("subscribe to $all after %d: %w", after, err)
	}
	sub := &subscription{events: make(chan eventstore.Recorded, subscriptionBuffer)}
	go sub.run(ctx, inner, uint64(after))
	return sub, nil
}

// run forwards events after last until ctx ends or the subscription drops.
func (s *subscription) run(ctx context.Context, inner *esdb.Subscription, last uint64) {
	defer close(s.events)
	defer func() { _ = inner.Close() }()
	for {
		e := inner.Recv()
		switch {
		case e.SubscriptionDropped != nil:
			if ctx.Err() == nil {
				s.mu.Lock()
				s.err = fmt.Errorf("subscription to $all dropped after position %d: %w", last, e.SubscriptionDropped.Error)
				s.mu.Unlock()
			}
			return
		case e.EventAppeared == nil:
			// Checkpoints, caught-up and fell-behind notices carry no event.
		case e.EventAppeared.Event == nil || e.EventAppeared.Event.Position.Commit <= last || isSystem(e.EventAppeared.Event):
			// The start position itself, or a system event the filter let through.
		default:
			r := e.EventAppeared.Event
			last = r.Position.Commit
			select {
			case s.events <- recorded(r):
			case <-ctx.Done():
				return
			}
		}
	}
}
