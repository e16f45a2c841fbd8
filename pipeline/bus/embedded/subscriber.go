package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// subscriber is one consumer group's subscriber; its subscriptions share the group's
// messages with every other subscriber of the group in the bus.
type subscriber struct {
	b     *Bus
	group string

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	running sync.WaitGroup
}

func newSubscriber(b *Bus, group string) *subscriber {
	return &subscriber{b: b, group: group, closing: make(chan struct{})}
}

// Subscribe hands out topic's messages for the group, concurrently across subjects and one at
// a time within one, until ctx ends or the subscriber or the bus closes; then the channel
// closes. Messages out and not yet acked when it ends go to the group's other subscriptions.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("subscribe: topic required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe to %s: subscriber closed", topic)
	}
	g, err := s.b.groupFor(s.group, topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *message.Message)
	s.running.Add(1)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		case <-s.b.ctx.Done():
		}
		cancel()
	}()
	go func() {
		defer s.running.Done()
		defer close(out)
		defer cancel()
		var watching sync.WaitGroup
		defer watching.Wait()
		for {
			it := g.take(ctx)
			if it == nil {
				return
			}
			msg := it.msg.Copy()
			mctx, done := context.WithCancel(ctx)
			msg.SetContext(mctx)
			select {
			case out <- msg:
			case <-ctx.Done():
				done()
				g.giveBack(it)
				return
			}
			watching.Add(1)
			go func() {
				defer watching.Done()
				defer done()
				select {
				case <-msg.Acked():
					g.ack(it)
				case <-msg.Nacked():
					g.nack(ctx, it)
				case <-ctx.Done():
					select {
					case <-msg.Acked(): // an ack that raced the end still counts
						g.ack(it)
					default:
						g.giveBack(it)
					}
				}
			}()
		}
	}()
	s.b.log.Debug("Subscribed", watermill.LogFields{"topic": topic, "consumer_group": s.group})
	return out, nil
}

// Close ends the subscriber's subscriptions and waits for them; messages not acked go back
// to the group. It is idempotent and leaves the bus open.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.running.Wait()
	return nil
}
