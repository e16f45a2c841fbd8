package embedded

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// publisher appends published messages to the event store.
type publisher struct{ b *Bus }

// Publish appends msgs to the store in one AppendMany and returns once they are durable. A
// registered fact published on its own topic goes to its fact stream (and is stored once
// even when the emitter recorded it already); anything else goes to "topic-<topic>", under
// an id derived from the topic and the message's UUID.
func (p publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	p.b.mu.Lock()
	closed := p.b.closed
	p.b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	appends := make([]eventstore.Append, len(msgs))
	for i, msg := range msgs {
		if msg.UUID == "" {
			return fmt.Errorf("publish to %s: message %d has no UUID", topic, i)
		}
		env, extra := event.Wire(msg)
		if len(extra) > 0 {
			raw, err := json.Marshal(extra)
			if err != nil {
				return fmt.Errorf("publish %s to %s: metadata: %w", msg.UUID, topic, err)
			}
			env.Metadata = string(raw)
		}
		// A fact on its own topic is stored as the fact, once. Any other message is stored per
		// topic: the same message published on two topics is two deliveries.
		stream, id := topicStreamPrefix+topic, event.DeriveID("bus-message", topic, msg.UUID)
		if s := event.StreamOf(env.Type, env.Subject); s != "" && event.TopicOf(env.Type) == topic && len(extra) == 0 {
			if _, err := uuid.Parse(msg.UUID); err == nil {
				stream, id = s, msg.UUID
			}
		}
		appends[i] = eventstore.Append{Stream: stream, Expected: eventstore.Any, Events: []eventstore.Event{{ID: id, Type: env.Type, Data: env.JSON()}}}
	}
	if _, err := p.b.cfg.Store.AppendMany(context.Background(), appends); err != nil {
		return fmt.Errorf("publish %d messages to %s: %w", len(msgs), topic, err)
	}
	return nil
}

// Close does nothing: the publisher belongs to the bus.
func (publisher) Close() error { return nil }
