package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/record"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := embedded.Open(embedded.Config{NackDelay: -1, MaxInFlight: -1})
	for _, want := range []string{"store: required", "path: required", "nack delay", "max in flight"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestBus(t *testing.T) {
	t.Parallel()

	t.Run("round_trips_id_metadata_and_payload_exactly", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{}).bus
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
			delete(got.Metadata, event.MetaPosition)
			if got.UUID != sent.UUID || string(got.Payload) != payload || !maps.Equal(got.Metadata, sent.Metadata) {
				t.Errorf("got %s %q %v, want %s %q %v", got.UUID, got.Payload, got.Metadata, sent.UUID, payload, sent.Metadata)
			}
		}
	})

	t.Run("delivers_a_recorded_fact_from_the_store_without_writing_it_again", func(t *testing.T) {
		t.Parallel()
		r := openRig(t, "", embedded.Config{})
		em, err := record.NewEmitter(r.store, r.bus.Publisher(), record.FromStore())
		if err != nil {
			t.Fatal(err)
		}
		rec := event.Record{ID: event.DeriveID("d"), Subject: "vm-1", Fact: event.DriftResolved_v1{DriftID: "d", CIID: "vm-1"}}
		if err := em.Emit(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		got := next(t, subscribe(t, r.bus, "g", topic.DriftResolved))
		got.Ack()
		m, err := event.DecodeMessage[event.DriftResolved_v1](got)
		if err != nil || m.ID != rec.ID || m.Subject != "vm-1" || m.Position == 0 {
			t.Fatalf("got %+v, %v", m, err)
		}
		// Publishing the same fact on its topic again stores nothing new.
		msg, _ := rec.ToMessage()
		if err := r.bus.Publisher().Publish(topic.DriftResolved, msg); err != nil {
			t.Fatal(err)
		}
		all, err := r.store.ReadAll(context.Background(), 0, 100)
		if err != nil || len(all) != 1 || all[0].Stream != "drift-vm-1" {
			t.Fatalf("store holds %d events (%v), want the one fact in drift-vm-1", len(all), err)
		}
	})

	t.Run("shares_a_topic_among_the_subscribers_of_one_group", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{}).bus
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

	t.Run("hands_out_one_subject_at_a_time_and_different_subjects_at_once", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{}).bus
		var msgs []*message.Message
		for _, subject := range []string{"a", "a", "b"} {
			m := message.NewMessage(event.DeriveID(fmt.Sprint(len(msgs))), []byte(`{}`))
			m.Metadata.Set(event.MetaSubject, subject)
			msgs = append(msgs, m)
		}
		if err := b.Publisher().Publish("t", msgs...); err != nil {
			t.Fatal(err)
		}
		ch := subscribe(t, b, "g", "t")
		first, second := next(t, ch), next(t, ch) // a#1 and b, both out, neither acked
		if first.UUID != msgs[0].UUID || second.UUID != msgs[2].UUID {
			t.Fatalf("got %s then %s, want a's first message and b's while a's waits", first.UUID, second.UUID)
		}
		nothing(t, ch, 100*time.Millisecond) // a#2 waits for a#1's ack
		first.Ack()
		expect(t, ch, msgs[1])
		second.Ack()
	})

	t.Run("redelivers_a_nacked_message_after_the_nack_delay", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{NackDelay: 50 * time.Millisecond}).bus
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
		b := openRig(t, "", embedded.Config{}).bus
		ch := subscribe(t, b, "g", "t")
		expect(t, ch, publish(t, b, "t", "later")...)
	})

	t.Run("ends_a_subscription_when_its_context_ends", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{}).bus
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

	t.Run("gives_unacked_messages_of_a_closed_subscriber_to_the_next", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{}).bus
		sent := publish(t, b, "t", "1", "2")
		sub, err := b.Subscriber("g")
		if err != nil {
			t.Fatal(err)
		}
		ch, err := sub.Subscribe(context.Background(), "t")
		if err != nil {
			t.Fatal(err)
		}
		next(t, ch) // never acked
		if err := errors.Join(sub.Close(), b.Publisher().Close()); err != nil {
			t.Fatal(err)
		}
		expect(t, subscribe(t, b, "g", "t"), sent...)
	})

	t.Run("refuses_work_once_closed", func(t *testing.T) {
		t.Parallel()
		b := openRig(t, "", embedded.Config{}).bus
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

	t.Run("flags_a_stored_event_it_cannot_decode_for_the_poison_queue", func(t *testing.T) {
		t.Parallel()
		r := openRig(t, "", embedded.Config{})
		if _, err := r.store.Append(context.Background(), "topic-t", eventstore.Any, eventstore.Event{ID: event.DeriveID("bad"), Type: "x", Data: []byte(`{"not":"an envelope"}`)}); err != nil {
			t.Fatal(err)
		}
		after := publish(t, r.bus, "t", "after")
		ch := subscribe(t, r.bus, "g", "t")
		bad := next(t, ch)
		bad.Ack()
		if reason := bad.Metadata.Get(bus.MetaMalformed); !strings.Contains(reason, "invalid CloudEvent") {
			t.Errorf("reason %q", reason)
		}
		expect(t, ch, after...)
	})
}

func TestReopen(t *testing.T) {
	t.Parallel()

	t.Run("redelivers_what_was_not_acked", func(t *testing.T) {
		t.Parallel()
		r := openRig(t, "", embedded.Config{})
		m := publish(t, r.bus, "t", "1", "2", "3", "4")
		ch := subscribe(t, r.bus, "g", "t")
		expect(t, ch, m[0], m[1])
		if got := next(t, ch); got.UUID != m[2].UUID { // out, never acked
			t.Fatalf("got %s, want %s", got.UUID, m[2].UUID)
		}
		r = r.reopen(t)
		sentinel := publish(t, r.bus, "t", "5")
		expect(t, subscribe(t, r.bus, "g", "t"), m[2], m[3], sentinel[0])
	})

	t.Run("keeps_every_group_at_its_own_place", func(t *testing.T) {
		t.Parallel()
		r := openRig(t, "", embedded.Config{})
		m := publish(t, r.bus, "t", "1", "2")
		expect(t, subscribe(t, r.bus, "ahead", "t"), m[0], m[1])
		expect(t, subscribe(t, r.bus, "behind", "t"), m[0])
		r = r.reopen(t)
		m3 := publish(t, r.bus, "t", "3")
		expect(t, subscribe(t, r.bus, "ahead", "t"), m3[0])
		expect(t, subscribe(t, r.bus, "behind", "t"), m[1], m3[0])
		expect(t, subscribe(t, r.bus, "new", "t"), m[0], m[1], m3[0])
	})

	t.Run("moves_a_checkpoint_over_other_topics_events", func(t *testing.T) {
		t.Parallel()
		r := openRig(t, "", embedded.Config{})
		m := publish(t, r.bus, "t", "1")
		ch := subscribe(t, r.bus, "g", "t")
		expect(t, ch, m...)
		publish(t, r.bus, "other", "a", "b", "c")
		sentinel := publish(t, r.bus, "t", "2")
		expect(t, ch, sentinel...)
		r = r.reopen(t)
		nothing(t, subscribe(t, r.bus, "g", "t"), 200*time.Millisecond)
	})

	t.Run("refuses_a_checkpoint_file_another_bus_holds", func(t *testing.T) {
		t.Parallel()
		r := openRig(t, "", embedded.Config{})
		if b, err := embedded.Open(embedded.Config{Store: r.store, Path: r.dir + "/bus.db", LockTimeout: 50 * time.Millisecond}); err == nil {
			_ = b.Close()
			t.Fatal("second open of a held file succeeded")
		}
	})
}
