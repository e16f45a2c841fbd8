package redisbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
)

func TestConfig(t *testing.T) {
	t.Parallel()

	t.Run("reports_every_problem_at_once", func(t *testing.T) {
		t.Parallel()
		_, err := redisbus.New(redisbus.Config{BlockTime: -1, MaxEntryBytes: -1})
		for _, want := range []string{"url or client", "consumer: required", "block time", "max entry bytes"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to mention %q", err, want)
			}
		}
	})

	t.Run("refuses_both_url_and_client", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		_, err := redisbus.New(redisbus.Config{URL: srv.URL(), Client: srv.Client(), Consumer: "c"})
		if err == nil || !strings.Contains(err.Error(), "set only one") {
			t.Errorf("err = %v, want set only one", err)
		}
	})

	t.Run("refuses_a_bad_url", func(t *testing.T) {
		t.Parallel()
		_, err := redisbus.New(redisbus.Config{URL: "http://x", Consumer: "c"})
		if err == nil || !strings.Contains(err.Error(), "url:") {
			t.Errorf("err = %v, want a url error", err)
		}
	})

	t.Run("names_the_consumer_after_host_and_role", func(t *testing.T) {
		t.Parallel()
		name, err := redisbus.DefaultConsumer("diff")
		if err != nil || !strings.HasSuffix(name, "-diff") || len(name) <= len("-diff") {
			t.Errorf("DefaultConsumer = %q, %v", name, err)
		}
	})
}

// deliverOne publishes one message on a fresh topic and waits for it in a fresh group.
func deliverOne(t *testing.T, b *redisbus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := "t-" + watermill.NewShortUUID()
	sub, err := b.Subscriber("g-" + watermill.NewShortUUID())
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	sent := message.NewMessage(watermill.NewUUID(), []byte("x"))
	if err := b.Publisher().Publish(topic, sent); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case got := <-msgs:
		got.Ack()
		if got.UUID != sent.UUID {
			t.Fatalf("got %s, want %s", got.UUID, sent.UUID)
		}
	case <-ctx.Done():
		t.Fatal("message not delivered")
	}
}

func TestBus(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)

	for name, cfg := range map[string]redisbus.Config{
		"with_a_url":             {URL: srv.URL()},
		"with_a_caller's_client": {Client: srv.Client()},
	} {
		t.Run("keeps_working_after_a_subscriber_and_the_publisher_close_"+name, func(t *testing.T) {
			t.Parallel()
			cfg.Consumer, cfg.BlockTime = "c-"+watermill.NewShortUUID(), 10*time.Millisecond
			b, err := redisbus.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			deliverOne(t, b) // closes its subscriber
			if err := b.Publisher().Close(); err != nil {
				t.Fatal(err)
			}
			deliverOne(t, b)
		})
	}

	t.Run("refuses_work_once_closed", func(t *testing.T) {
		t.Parallel()
		b := newBus(t, srv)
		sub, err := b.Subscriber("g")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Publisher().Publish("t", message.NewMessage("1", nil)); !errors.Is(err, redisbus.ErrClosed) {
			t.Errorf("publish err = %v, want ErrClosed", err)
		}
		if _, err := b.Subscriber("g"); !errors.Is(err, redisbus.ErrClosed) {
			t.Errorf("subscriber err = %v, want ErrClosed", err)
		}
		if _, err := sub.Subscribe(context.Background(), "t"); err == nil {
			t.Error("subscribe on a subscriber of a closed bus succeeded")
		}
	})

	t.Run("refuses_an_empty_group", func(t *testing.T) {
		t.Parallel()
		if _, err := newBus(t, srv).Subscriber(""); err == nil {
			t.Error("empty group accepted")
		}
	})
}

func TestSubscriptionSurvivesAServerRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithAOF())
	b := newBus(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "restart-" + watermill.NewShortUUID()
	sub, err := b.Subscriber("g")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func() {
		t.Helper()
		sent := message.NewMessage(watermill.NewUUID(), []byte("x"))
		// The first publish after a restart may hit a dead pooled connection.
		var err error
		for range 5 {
			if err = b.Publisher().Publish(topic, sent); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		for {
			select {
			case got := <-msgs:
				got.Ack()
				if got.UUID == sent.UUID {
					return
				}
			case <-ctx.Done():
				t.Fatal("message not delivered")
			}
		}
	}
	roundTrip()
	srv.Restart()
	roundTrip()
}
