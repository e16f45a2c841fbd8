package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
)

// publish publishes one message per payload and returns them.
func publish(t *testing.T, b *embedded.Bus, topic string, payloads ...string) []*message.Message {
	t.Helper()
	msgs := make([]*message.Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = message.NewMessage(watermill.NewUUID(), []byte(p))
	}
	if err := b.Publisher().Publish(topic, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return msgs
}

// subscribe subscribes group to topic for the rest of the test.
func subscribe(t *testing.T, b *embedded.Bus, group, topic string) <-chan *message.Message {
	t.Helper()
	sub, err := b.Subscriber(group)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return ch
}

// next waits up to 10 seconds for the next message.
func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return msg
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// expect receives one message per want, in order, acking each.
func expect(t *testing.T, ch <-chan *message.Message, want ...*message.Message) {
	t.Helper()
	for i, w := range want {
		got := next(t, ch)
		got.Ack()
		if got.UUID != w.UUID {
			t.Fatalf("message %d is %s (%q), want %s (%q)", i+1, got.UUID, got.Payload, w.UUID, w.Payload)
		}
	}
}
