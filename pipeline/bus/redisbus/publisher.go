package redisbus

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
)

// publisher is the bus's publisher as handed out by Publisher.
type publisher struct{ b *Bus }

// Publish appends each message to the topic's stream (XADD), one after another.
func (p publisher) Publish(topic string, msgs ...*message.Message) error {
	p.b.mu.RLock()
	defer p.b.mu.RUnlock()
	if p.b.closed {
		return ErrClosed
	}
	if err := p.b.pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Close does nothing: the publisher belongs to the bus.
func (publisher) Close() error { return nil }

// unclosable shares a client with a stock publisher or subscriber, whose Close would close it.
type unclosable struct{ *redis.Client }

// Close does nothing: the client's owner closes it.
func (unclosable) Close() error { return nil }
