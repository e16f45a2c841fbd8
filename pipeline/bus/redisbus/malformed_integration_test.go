package redisbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus"
)

func TestSubscriptionKeepsDeliveringPastMalformedEntries(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := newBus(t, srv)
	rc := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "malformed-" + watermill.NewShortUUID()

	type want struct{ uuid, reason string }
	var wants []want
	good := func() {
		msg := message.NewMessage(watermill.NewUUID(), []byte(`{"ok":true}`))
		if err := b.Publisher().Publish(topic, msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
		wants = append(wants, want{uuid: msg.UUID})
	}
	bad := func(reason string, values ...any) {
		if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: topic, Values: values}).Err(); err != nil {
			t.Fatalf("xadd: %v", err)
		}
		wants = append(wants, want{reason: reason})
	}

	good()
	bad(`entry has no "event" field`, "payload", "x")
	good()
	bad(`event: not a CloudEvents JSON document`, "event", "{not json")
	bad(`event: invalid CloudEvent: specversion: "0.3", want "1.0"`, "event", `{"specversion":"0.3","id":"1","source":"s","type":"t"}`)
	good()
	bad(`metadata: not a JSON object of strings`, "event", goodEvent, "metadata", `{"a":1}`)
	bad(`over the 8388608-byte limit`, "event", goodEvent, "junk", strings.Repeat("x", 9<<20))
	good()

	sub, err := b.Subscriber("handler")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range wants {
		var msg *message.Message
		select {
		case msg = <-msgs:
		case <-ctx.Done():
			t.Fatalf("message %d of %d not delivered: %v", i+1, len(wants), ctx.Err())
		}
		reason := msg.Metadata.Get(bus.MetaMalformed)
		switch {
		case w.reason == "" && (reason != "" || msg.UUID != w.uuid):
			t.Errorf("message %d: got %s (malformed %q), want good %s", i+1, msg.UUID, reason, w.uuid)
		case w.reason != "" && !strings.Contains(reason, w.reason):
			t.Errorf("message %d: reason %q, want %q", i+1, reason, w.reason)
		}
		msg.Ack()
	}
	// Every entry, malformed or not, was acked: nothing stays pending in the group.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := rc.XPending(ctx, topic, "handler").Result()
		if err == nil && p.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries still pending: %+v, %v", p, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
