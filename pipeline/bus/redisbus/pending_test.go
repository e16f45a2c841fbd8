package redisbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
)

// receive waits for the next message on ch.
func receive(t *testing.T, ch <-chan *message.Message, within time.Duration) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return msg
	case <-time.After(within):
		t.Fatalf("no message within %s", within)
	}
	return nil
}

func TestARestartedConsumerTakesBackItsOwnPendingEntriesAtOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	topic := "pending-" + watermill.NewShortUUID()
	// Claiming others' idle entries waits a minute: only taking back its own can be quick.
	cfg := redisbus.Config{URL: srv.URL(), Consumer: "host-diff", MaxIdleTime: time.Minute, BlockTime: 50 * time.Millisecond}

	first, err := redisbus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m-1", "m-2"} {
		if err := first.Publisher().Publish(topic, message.NewMessage(id, []byte(`{}`))); err != nil {
			t.Fatal(err)
		}
	}
	sub, _ := first.Subscriber("diff")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, 10*time.Second); got.UUID != "m-1" {
		t.Fatalf("first delivery %s", got.UUID)
	}
	// The process dies holding m-1 unacked: nothing acknowledges it.
	cancel()
	_ = first.Close()

	second, err := redisbus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	sub, _ = second.Subscriber("diff")
	ch, err = sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		msg := receive(t, ch, 5*time.Second)
		got = append(got, msg.UUID)
		msg.Ack()
	}
	if got[0] != "m-1" || got[1] != "m-2" {
		t.Fatalf("after restart got %v, want the pending m-1 first, then m-2", got)
	}
	pending, err := srv.Client().XPending(context.Background(), topic, "diff").Result()
	if err != nil {
		t.Fatal(err)
	}
	waitFor := time.Now().Add(5 * time.Second)
	for pending.Count != 0 && time.Now().Before(waitFor) {
		time.Sleep(20 * time.Millisecond)
		pending, _ = srv.Client().XPending(context.Background(), topic, "diff").Result()
	}
	if pending.Count != 0 {
		t.Fatalf("%d entries still pending after both were acked", pending.Count)
	}
}
