package embedded_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
)

// rig is a bus over a real embedded event store in one data directory.
type rig struct {
	dir   string
	store *bolt.Store
	bus   *embedded.Bus
}

// openRig opens a store and a bus in dir (a fresh one when empty), closed when the test ends.
func openRig(t testing.TB, dir string, cfg embedded.Config) *rig {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "events")})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Path = store, filepath.Join(dir, "bus.db")
	b, err := embedded.Open(cfg)
	if err != nil {
		_ = store.Close()
		t.Fatalf("open bus: %v", err)
	}
	r := &rig{dir: dir, store: store, bus: b}
	t.Cleanup(func() { r.close(t) })
	return r
}

// close closes the bus, then the store; it is idempotent.
func (r *rig) close(t testing.TB) {
	if err := r.bus.Close(); err != nil {
		t.Errorf("close bus: %v", err)
	}
	if err := r.store.Close(); err != nil {
		t.Errorf("close store: %v", err)
	}
}

// reopen closes the rig and opens its directory again.
func (r *rig) reopen(t testing.TB) *rig {
	t.Helper()
	r.close(t)
	return openRig(t, r.dir, embedded.Config{})
}

// publish publishes one message per payload and returns them.
func publish(t testing.TB, b *embedded.Bus, topic string, payloads ...string) []*message.Message {
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
func subscribe(t testing.TB, b *embedded.Bus, group, topic string) <-chan *message.Message {
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
func next(t testing.TB, ch <-chan *message.Message) *message.Message {
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

// nothing fails the test if a message arrives within d.
func nothing(t testing.TB, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case msg := <-ch:
		t.Fatalf("got %s (%q), want nothing", msg.UUID, msg.Payload)
	case <-time.After(d):
	}
}

// expect receives one message per want, in order, acking each.
func expect(t testing.TB, ch <-chan *message.Message, want ...*message.Message) {
	t.Helper()
	for i, w := range want {
		got := next(t, ch)
		got.Ack()
		if got.UUID != w.UUID {
			t.Fatalf("message %d is %s (%q), want %s (%q)", i+1, got.UUID, got.Payload, w.UUID, w.Payload)
		}
	}
}
