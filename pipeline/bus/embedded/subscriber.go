package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// subscriber is one consumer group's subscriber. Its subscriptions share the group's
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

// Subscribe delivers topic's messages for the group, one at a time, each after the previous
// one was acked, until ctx ends or the subscriber or the bus closes; then the channel closes.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("subscribe: topic required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe to %s: subscriber closed", topic)
	}
	s.b.life.RLock()
	defer s.b.life.RUnlock()
	if s.b.closed {
		return nil, ErrClosed
	}
	t := s.b.topicFor(topic)
	g, err := s.b.groupFor(t, s.group)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *message.Message)
	s.running.Add(1)
	s.b.running.Add(1)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		case <-s.b.closing:
		}
		cancel()
	}()
	go func() {
		defer s.b.running.Done()
		defer s.running.Done()
		defer close(out)
		defer cancel()
		s.run(ctx, t, g, out)
	}()
	s.b.log.Debug("Subscribed", watermill.LogFields{"topic": topic, "consumer_group": s.group})
	return out, nil
}

// run claims and delivers messages until ctx ends.
func (s *subscriber) run(ctx context.Context, t *topic, g *group, out chan<- *message.Message) {
	for {
		seq, wake := t.claim(g)
		if seq == 0 {
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		msg := readEntry(s.b.db, t.name, seq, s.b.cfg.MaxEntryBytes)
		if !s.deliver(ctx, msg, out) {
			t.release(g, seq)
			return
		}
		s.b.acked(t, g, seq)
	}
}

// deliver sends msg until it is acked, again after each nack. It reports false when ctx ended
// first. Each delivery gets a context that is cancelled once it is acked, nacked or abandoned.
func (s *subscriber) deliver(ctx context.Context, msg *message.Message, out chan<- *message.Message) bool {
	for {
		mctx, cancel := context.WithCancel(ctx)
		msg.SetContext(mctx)
		select {
		case out <- msg:
		case <-ctx.Done():
			cancel()
			return false
		}
		select {
		case <-msg.Acked():
			cancel()
			return true
		case <-msg.Nacked():
			cancel()
		case <-ctx.Done():
			cancel()
			// An ack that raced the shutdown still counts.
			select {
			case <-msg.Acked():
				return true
			default:
				return false
			}
		}
		if d := s.b.cfg.NackDelay; d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return false
			}
		}
		msg = msg.Copy()
	}
}

// Close ends the subscriber's subscriptions and waits for them; unacked messages go back to
// the group. It is idempotent and leaves the bus open.
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
