package esdb

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// subscriptionBuffer is the capacity of a subscription's channel.
const subscriptionBuffer = 64

// subscription feeds a catch-up subscription to $all into a channel.
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
	feed := eventstore.NewFeed(subscriptionBuffer)
	go func() { feed.End(forward(ctx, inner, uint64(after), feed.Out())) }()
	return feed, nil
}

// forward sends events after last to out until ctx ends (nil) or the subscription drops.
func forward(ctx context.Context, inner *esdb.Subscription, last uint64, out chan<- eventstore.Recorded) error {
	defer func() { _ = inner.Close() }()
	for {
		e := inner.Recv()
		switch {
		case e.SubscriptionDropped != nil:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscription to $all dropped after position %d: %w", last, e.SubscriptionDropped.Error)
		case e.EventAppeared == nil:
			// Checkpoints, caught-up and fell-behind notices carry no event.
		case e.EventAppeared.Event == nil || e.EventAppeared.Event.Position.Commit <= last || isSystem(e.EventAppeared.Event):
			// The start position itself, or a system event the filter let through.
		default:
			r := e.EventAppeared.Event
			last = r.Position.Commit
			select {
			case out <- recorded(r):
			case <-ctx.Done():
				return nil
			}
		}
	}
}
