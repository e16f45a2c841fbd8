package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := embedded.Open(embedded.Config{NackDelay: -1, MaxBatch: -1})
	for _, want := range []string{"path: required", "nack delay", "max batch"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestBus(t *testing.T) {
	t.Parallel()

	t.Run("round_trips_uuid_metadata_and_payload_exactly", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{})
		for i, payload := range []string{`{"a":"<b>"}`, "{ \"spaced\": true }", "\x00binary", ""} {
			topic := fmt.Sprint("t", i)
			sent := message.NewMessage(fmt.Sprint("id-", i), []byte(payload))
			sent.Metadata.Set(event.MetaType, "io.driftwatch.test.v1")
			sent.Metadata.Set(event.MetaSource, "test")
			sent.Metadata.Set(event.MetaTime, "2025-01-02T03:04:05Z")
			sent.Metadata.Set(event.MetaCorrelationID, "corr")
			sent.Metadata.Set("attempt", "3")
			if err := b.Publisher().Publish(topic, sent); err != nil {
				t.Fatal(err)
			}
			got := next(t, subscribe(t, b, "g", topic))
			got.Ack()
			if got.UUID != sent.UUID || string(got.Payload) != payload || !maps.Equal(got.Metadata, sent.Metadata) {
				t.Errorf("got %q %v, want %q %v", got.Payload, got.Metadata, payload, sent.Metadata)
			}
		}
	})

	t.Run("shares_a_topic_among_the_subscribers_of_one_group", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{})
		payloads := make([]string, 200)
		for i := range payloads {
			payloads[i] = "x"
		}
		sent := publish(t, b, "t", payloads...)
		results := make(chan string, 2*len(sent))
		var subs []message.Subscriber
		for range 3 {
			sub, err := b.Subscriber("g")
			if err != nil {
				t.Fatal(err)
			}
			ch, err := sub.Subscribe(context.Background(), "t")
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub)
			go func() {
				for msg := range ch {
					msg.Ack()
					results <- msg.UUID
				}
			}()
		}
		seen := map[string]int{}
		timeout := time.After(10 * time.Second)
		for len(seen) < len(sent) {
			select {
			case id := <-results:
				seen[id]++
			case <-timeout:
				t.Fatalf("received %d of %d", len(seen), len(sent))
			}
		}
		for _, sub := range subs {
			if err := sub.Close(); err != nil {
				t.Fatal(err)
			}
		}
		for len(results) > 0 {
			seen[<-results]++
		}
		for _, m := range sent {
			if seen[m.UUID] != 1 {
				t.Fatalf("message %s delivered %d times, want once", m.UUID, seen[m.UUID])
			}
		}
	})

	t.Run("redelivers_a_nacked_message_after_the_nack_delay", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{NackDelay: 50 * time.Millisecond})
		sent := publish(t, b, "t", "x")
		ch := subscribe(t, b, "g", "t")
		next(t, ch).Nack()
		start := time.Now()
		got := next(t, ch)
		got.Ack()
		if got.UUID != sent[0].UUID || time.Since(start) < 50*time.Millisecond {
			t.Errorf("got %s after %s, want %s after 50ms", got.UUID, time.Since(start), sent[0].UUID)
		}
	})

	t.Run("wakes_a_waiting_subscriber_on_publish", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{})
		ch := subscribe(t, b, "g", "t")
		expect(t, ch, publish(t, b, "t", "later")...)
	})

	t.Run("ends_a_subscription_when_its_context_ends", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{})
		sub, err := b.Subscriber("g")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := sub.Subscribe(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case _, open := <-ch:
			if open {
				t.Fatal("got a message on an empty topic")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("channel not closed after the context ended")
		}
	})

	t.Run("keeps_working_after_a_subscriber_and_the_publisher_close", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{})
		sub, err := b.Subscriber("g")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Subscribe(context.Background(), "t"); err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(sub.Close(), b.Publisher().Close()); err != nil {
			t.Fatal(err)
		}
		expect(t, subscribe(t, b, "g", "t"), publish(t, b, "t", "x")...)
	})

	t.Run("refuses_work_once_closed", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{})
		sub, err := b.Subscriber("g")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Publisher().Publish("t", message.NewMessage("1", nil)); !errors.Is(err, embedded.ErrClosed) {
			t.Errorf("publish err = %v, want ErrClosed", err)
		}
		if _, err := b.Subscriber("g"); !errors.Is(err, embedded.ErrClosed) {
			t.Errorf("subscriber err = %v, want ErrClosed", err)
		}
		if _, err := sub.Subscribe(context.Background(), "t"); !errors.Is(err, embedded.ErrClosed) {
			t.Errorf("subscribe err = %v, want ErrClosed", err)
		}
	})

	t.Run("refuses_a_message_over_the_entry_limit", func(t *testing.T) {
		t.Parallel()
		b := openBus(t, embedded.Config{MaxEntryBytes: 100})
		err := b.Publisher().Publish("t", message.NewMessage("1", make([]byte, 200)))
		if err == nil || !strings.Contains(err.Error(), "over the 100-byte limit") {
			t.Errorf("err = %v, want over the limit", err)
		}
	})
}

func TestDamagedEntriesArriveFlaggedMalformed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bus.db")
	b := openBus(t, embedded.Config{Path: path})
	before := publish(t, b, "t", "before")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		tb := tx.Bucket([]byte("topics")).Bucket([]byte("t"))
		seq, _ := tb.NextSequence()
		if err := tb.Put([]byte{0, 0, 0, 0, 0, 0, 0, byte(seq)}, []byte("garbage")); err != nil {
			return err
		}
		_, err := tb.NextSequence() // a hole: a seq with no entry
		return err
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	b = openBus(t, embedded.Config{Path: path})
	after := publish(t, b, "t", "after")
	ch := subscribe(t, b, "g", "t")
	expect(t, ch, before...)
	for _, want := range []string{"stored entry: not a JSON object", "stored entry t #3: no such entry"} {
		bad := next(t, ch)
		bad.Ack()
		if r := bad.Metadata.Get(bus.MetaMalformed); !strings.HasPrefix(r, want) {
			t.Errorf("reason = %q, want %q", r, want)
		}
	}
	expect(t, ch, after...)
}
