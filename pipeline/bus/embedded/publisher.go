package embedded

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	bolt "go.etcd.io/bbolt"
)

// publisher is the bus's publisher as handed out by Publisher.
type publisher struct{ b *Bus }

// Publish appends msgs to topic, in order and all or none, and returns once they are on disk.
func (p publisher) Publish(topic string, msgs ...*message.Message) error {
	if topic == "" {
		return errors.New("publish: topic required")
	}
	if len(topic) > bolt.MaxKeySize {
		return fmt.Errorf("publish: topic name of %d bytes, over %d", len(topic), bolt.MaxKeySize)
	}
	if len(msgs) == 0 {
		return nil
	}
	values := make([][]byte, len(msgs))
	for i, msg := range msgs {
		v, err := encodeEntry(msg, p.b.cfg.MaxEntryBytes)
		if err != nil {
			return fmt.Errorf("publish %s to %s: %w", msg.UUID, topic, err)
		}
		values[i] = v
	}

	p.b.life.RLock()
	defer p.b.life.RUnlock()
	if p.b.closed {
		return ErrClosed
	}
	r := &appendReq{topic: topic, values: values, done: make(chan error, 1)}
	p.b.reqs <- r
	if err := <-r.done; err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Close does nothing: the publisher belongs to the bus.
func (publisher) Close() error { return nil }
