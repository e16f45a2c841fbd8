package redisbus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
)

// subscriber wraps the stock subscriber so that Subscribe and Close do not race on its
// unguarded closed flag, so that the bus forgets it once closed, and so that a restarted
// consumer takes back its own pending entries at once (see ownPending).
type subscriber struct {
	inner  *redisstream.Subscriber
	bus    *Bus
	client redis.UniversalClient
	group  string

	mu     sync.Mutex
	closed bool
}

// Subscribe reads topic in the subscriber's group until ctx ends or the subscriber closes;
// then the channel closes.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("subscribe to " + topic + ": subscriber closed")
	}
	// Read the own pending entries before the stock subscription starts reading: an entry it
	// reads becomes pending too, and must not be handed out twice.
	pending, err := s.ownPending(ctx, topic)
	if err != nil {
		// Not fatal: after MaxIdleTime the stock subscriber claims them anyway.
		s.bus.cfg.Logger.Error("Reading own pending entries failed", err, nil)
	}
	ch, err := s.inner.Subscribe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	if len(pending) == 0 {
		return ch, nil
	}
	return s.withOwnPending(ctx, topic, pending, ch), nil
}

// Close ends the subscriber's subscriptions, waiting for them to stop. It is idempotent.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.bus.forget(s)
	if err := s.inner.Close(); err != nil {
		return fmt.Errorf("close redis subscriber: %w", err)
	}
	return nil
}
