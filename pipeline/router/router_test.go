package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/record"
	"github.com/driftwatch/driftwatch/pipeline/router"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// stageFunc adapts a function to router.Stage.
type stageFunc func(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error)

func (f stageFunc) Handle(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
	return f(ctx, in)
}

type rig struct {
	bus    *embedded.Bus
	router *router.Router
	poison <-chan *message.Message
	logs   *observer.ObservedLogs
}

// newRig runs one stage on the observations topic over the embedded bus and store, with
// fast retries, and follows the poison topic.
func newRig(t *testing.T, stage router.Stage[event.ObservationSubmitted_v1]) *rig {
	t.Helper()
	dir := t.TempDir()
	store, err := bolt.Open(bolt.Config{Dir: dir + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	b, err := embedded.Open(embedded.Config{Store: store, Path: dir + "/bus.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	em, _ := record.NewEmitter(store, b.Publisher(), record.FromStore())
	core, logs := observer.New(zapcore.DebugLevel)
	r, err := router.New(router.Config{MaxRetries: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}, b, em, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := router.Add(r, "stage-under-test", topic.Observations, stage); err != nil {
		t.Fatal(err)
	}
	sub, _ := b.Subscriber("poison-reader")
	ctx, cancel := context.WithCancel(context.Background())
	poison, err := sub.Subscribe(ctx, topic.Poison)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); _ = r.Close() })
	<-r.Running()
	return &rig{bus: b, router: r, poison: poison, logs: logs}
}

func (r *rig) submit(t *testing.T, ci string) {
	t.Helper()
	msg, err := event.Record{ID: event.DeriveID("test", ci), Subject: ci, Fact: event.ObservationSubmitted_v1{}}.ToMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.bus.Publisher().Publish(topic.Observations, msg); err != nil {
		t.Fatal(err)
	}
}

// nextPoison waits for the next parked message and returns its record.
func (r *rig) nextPoison(t *testing.T) event.Poison_v1 {
	t.Helper()
	select {
	case msg := <-r.poison:
		msg.Ack()
		m, err := event.DecodeMessage[event.Poison_v1](msg)
		if err != nil {
			t.Fatal(err)
		}
		return m.Fact
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reached the poison topic in 10s")
	}
	return event.Poison_v1{}
}

func TestRouterParksAPermanentFailureAtOnceWithItsReason(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := newRig(t, stageFunc(func(context.Context, event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
		calls.Add(1)
		return nil, fault.Permanent(errors.New("ci_id: required"))
	}))
	r.submit(t, "vm-1")
	p := r.nextPoison(t)
	if !strings.Contains(p.Reason, "ci_id: required") || p.Handler != "stage-under-test" || p.Topic != topic.Observations {
		t.Fatalf("poison record %+v", p)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1: permanent failures are not retried", n)
	}
	parked := r.logs.FilterMessage("Message parked in poison stream").FilterField(zap.String("reason", p.Reason)).All()
	if len(parked) != 1 || parked[0].Level != zapcore.WarnLevel {
		t.Fatalf("parking logged %+v, want one line at Warn with its reason", parked)
	}
}

func TestRouterRetriesAFailureThenParksIt(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := newRig(t, stageFunc(func(context.Context, event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
		calls.Add(1)
		return nil, errors.New("connection refused")
	}))
	r.submit(t, "vm-1")
	if p := r.nextPoison(t); !strings.Contains(p.Reason, "connection refused") {
		t.Fatalf("reason %q", p.Reason)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want 1 + 2 retries", n)
	}
}

func TestRouterRecoversAPanicAndKeepsGoing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	done := make(chan string, 1)
	r := newRig(t, stageFunc(func(_ context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
		calls.Add(1)
		if in.Subject == "boom" {
			panic("nil map")
		}
		done <- in.Subject
		return nil, nil
	}))
	r.submit(t, "boom")
	if p := r.nextPoison(t); !strings.Contains(p.Reason, "nil map") {
		t.Fatalf("reason %q", p.Reason)
	}
	r.submit(t, "fine")
	select {
	case got := <-done:
		if got != "fine" {
			t.Fatalf("handled %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next message was not handled after a panic")
	}
}

func TestRouterParksAMalformedEntryWithoutCallingTheHandler(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := newRig(t, stageFunc(func(context.Context, event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
		calls.Add(1)
		return nil, nil
	}))
	msg := message.NewMessage("m-1", []byte(`{"event":"not json"}`))
	msg.Metadata.Set(bus.MetaMalformed, "event: not JSON")
	if err := r.bus.Publisher().Publish(topic.Observations, msg); err != nil {
		t.Fatal(err)
	}
	p := r.nextPoison(t)
	if p.Reason != "event: not JSON" || string(p.Original) != `{"event":"not json"}` {
		t.Fatalf("poison record %+v", p)
	}
	if calls.Load() != 0 {
		t.Fatal("the handler saw a malformed entry")
	}
}

func TestRouterRecordsAndPublishesWhatAStageEmits(t *testing.T) {
	t.Parallel()
	r := newRig(t, stageFunc(func(_ context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
		return []event.Record{{ID: event.DeriveID("out", in.ID), Subject: in.Subject, Fact: event.ObservationReceived_v1{CIID: in.Subject, State: json.RawMessage(`{}`)}}}, nil
	}))
	sub, _ := r.bus.Subscriber("reader")
	out, err := sub.Subscribe(context.Background(), topic.ObservationReceived)
	if err != nil {
		t.Fatal(err)
	}
	r.submit(t, "vm-9")
	select {
	case msg := <-out:
		msg.Ack()
		m, err := event.DecodeMessage[event.ObservationReceived_v1](msg)
		if err != nil || m.Fact.CIID != "vm-9" || m.CausationID != event.DeriveID("test", "vm-9") {
			t.Fatalf("emitted %+v, %v", m, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing published")
	}
}
