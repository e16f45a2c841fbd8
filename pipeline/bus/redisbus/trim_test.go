package redisbus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// consume reads n messages of topic in group and acks the first acks of them.
func consume(t *testing.T, b *redisbus.Bus, group, topic string, n, acks int) {
	t.Helper()
	sub, err := b.Subscriber(group)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		msg := receive(t, ch, 10*time.Second)
		if i < acks {
			msg.Ack()
		}
	}
	cancel()
	_ = sub.Close()
}

func TestTrimKeepsWhatAnyGroupHasNotAcknowledged(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b, err := redisbus.New(redisbus.Config{URL: srv.URL(), Consumer: "c", BlockTime: 10 * time.Millisecond, TrimInterval: -1, MaxLag: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	topic := "trim-" + watermill.NewShortUUID()
	for i := range 20 {
		// One subject each: a message left unacked holds back only its own subject's lane.
		msg := message.NewMessage(fmt.Sprint("m-", i), []byte(`{}`))
		msg.Metadata.Set(event.MetaSubject, fmt.Sprint("ci-", i))
		if err := b.Publisher().Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	length := func() int64 {
		n, err := srv.Client().XLen(ctx, topic).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	consume(t, b, "ahead", topic, 20, 20)
	consume(t, b, "behind", topic, 10, 5) // 5 acked, 5 pending, 10 never read
	if _, err := b.Trim(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if n := length(); n != 15 {
		t.Fatalf("stream holds %d entries after a trim, want 15: the 5 pending and the 10 unread of group behind", n)
	}
	if lag := b.Lagging(); !slices.Contains(lag, topic+" behind") || slices.Contains(lag, topic+" ahead") {
		t.Fatalf("lagging %v, want the group behind only (15 waiting, max 5)", lag)
	}
	consume(t, b, "behind", topic, 15, 15) // its own pending first, then the rest
	if _, err := b.Trim(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if n := length(); n > 1 {
		t.Fatalf("stream holds %d entries once every group acknowledged everything, want at most the last one", n)
	}
	if lag := b.Lagging(); len(lag) != 0 {
		t.Fatalf("still lagging: %v", lag)
	}
}

func TestTrimKeepsAPublicStreamWithoutGroups(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b, err := redisbus.New(redisbus.Config{URL: srv.URL(), Consumer: "c", TrimInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	topic := "drift.trim-" + watermill.NewShortUUID()
	for i := range 3 {
		if err := b.Publisher().Publish(topic, message.NewMessage(fmt.Sprint("d-", i), []byte(`{}`))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Trim(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.Client().XLen(context.Background(), topic).Result(); n != 3 {
		t.Fatalf("a public stream lost %d entries younger than its retention", 3-n)
	}
}
