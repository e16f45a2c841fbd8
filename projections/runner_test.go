package projections

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

// harness is a runner over a memstore and a counter projection.
type harness struct {
	store *memstore.Store
	path  string
	logs  *observer.ObservedLogs
	log   *zap.Logger
}

func newHarness(t *testing.T) *harness {
	core, logs := observer.New(zapcore.DebugLevel)
	return &harness{store: memstore.New(), path: filepath.Join(t.TempDir(), "projections.db"), logs: logs, log: zap.New(core)}
}

// start opens a runner with a fresh counter and runs it until the test ends.
func (h *harness) start(t *testing.T) (*Runner, *counter, func() error) {
	t.Helper()
	c := &counter{}
	r, err := New(Config{Path: h.path, BatchSize: 3}, Deps{Store: h.store, Logger: h.log}, c)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		if cerr := r.Close(); cerr != nil {
			t.Errorf("close runner: %v", cerr)
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return r, c, stop
}

func TestRunner(t *testing.T) {
	t.Parallel()

	t.Run("applies_every_event_once_and_resumes_from_the_persisted_checkpoint", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		first := AppendRecords(t, h.store, ack("d1", "ann"), ack("d2", "bob"))
		r, c, stop := h.start(t)
		if err := r.WaitFor(testContext(t), first); err != nil {
			t.Fatalf("wait for %d: %v", first, err)
		}
		if err := stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		second := AppendRecords(t, h.store, ack("d3", "cy"))
		r, c, _ = h.start(t)
		if got := r.Position(); got != first {
			t.Fatalf("reopened checkpoint: got %d, want %d", got, first)
		}
		if err := r.WaitFor(testContext(t), second); err != nil {
			t.Fatalf("wait for %d: %v", second, err)
		}
		for _, id := range []string{"d1", "d2", "d3"} {
			if n := c.count(t, id); n != 1 {
				t.Fatalf("drift %s applied %d times, want once", id, n)
			}
		}
		if c.total() != 1 {
			t.Fatalf("in-memory commits after restart: got %d, want 1 (only d3 is new)", c.total())
		}
	})

	t.Run("skips_malformed_unknown_and_refused_events_with_a_log_line", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		ctx := testContext(t)
		if _, err := h.store.Append(ctx, "junk", eventstore.Any,
			eventstore.Event{ID: uuid.NewString(), Type: "x", Data: []byte(`not json`)},
			eventstore.Event{ID: uuid.NewString(), Type: "x", Data: []byte(`{"specversion":"1.0","id":"a","source":"s","type":"io.example.unknown.v1"}`)},
			eventstore.Event{ID: uuid.NewString(), Type: "x", Data: []byte(`{"specversion":"1.0","id":"b","source":"s","type":"io.driftwatch.drift.acknowledged.v1","data":{"drift_id":7}}`)},
		); err != nil {
			t.Fatalf("append junk: %v", err)
		}
		last := AppendRecords(t, h.store, ack("d1", "skip-me"), ack("d2", "ann"))
		r, c, _ := h.start(t)
		if err := r.WaitFor(ctx, last); err != nil {
			t.Fatalf("wait: %v", err)
		}
		if c.count(t, "d2") != 1 || c.count(t, "d1") != 0 {
			t.Fatalf("counts: d1 %d d2 %d, want 0 and 1", c.count(t, "d1"), c.count(t, "d2"))
		}
		if n := h.logs.FilterMessage("Skipped event the read models cannot use").Len(); n != 4 {
			t.Fatalf("skip log lines: got %d, want 4", n)
		}
	})

	t.Run("ignores_a_redelivered_batch", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		AppendRecords(t, h.store, ack("d1", "ann"), ack("d2", "bob"))
		c := &counter{}
		r, err := New(Config{Path: h.path}, Deps{Store: h.store, Logger: h.log}, c)
		if err != nil {
			t.Fatalf("new runner: %v", err)
		}
		defer r.Close()
		batch, err := h.store.ReadAll(testContext(t), 0, 10)
		if err != nil {
			t.Fatalf("read all: %v", err)
		}
		for range 2 {
			if err := r.apply(batch); err != nil {
				t.Fatalf("apply: %v", err)
			}
		}
		if err := r.CatchUp(testContext(t)); err != nil {
			t.Fatalf("catch up: %v", err)
		}
		if c.count(t, "d1") != 1 || c.count(t, "d2") != 1 {
			t.Fatalf("counts after redelivery: d1 %d d2 %d, want 1 and 1", c.count(t, "d1"), c.count(t, "d2"))
		}
	})

	t.Run("stops_without_moving_the_checkpoint_when_a_projection_fails", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		good := AppendRecords(t, h.store, ack("d1", "ann"))
		AppendRecords(t, h.store, ack("d2", "fail"))
		r, c, stop := h.start(t)
		err := r.WaitFor(testContext(t), good+100)
		if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("wait past the failure: got %v, want ErrStopped naming the cause", err)
		}
		if c.count(t, "d1") != 1 || r.Position() != good {
			t.Fatalf("after the failure: d1 applied %d times at checkpoint %d, want once at %d", c.count(t, "d1"), r.Position(), good)
		}
		if err := stop(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("run: got %v, want the projection's error", err)
		}
	})

	t.Run("wait_for_ends_with_its_context", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		r, _, _ := h.start(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := r.WaitFor(ctx, 5); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait with an ended context: got %v, want context.Canceled", err)
		}
		if err := r.WaitFor(ctx, 0); err != nil {
			t.Fatalf("wait for position 0: %v", err)
		}
	})

	t.Run("refuses_a_missing_path_store_logger_and_projection", func(t *testing.T) {
		t.Parallel()
		_, err := New(Config{BatchSize: -1}, Deps{})
		for _, want := range []string{"path: required", "batch_size", "event store: required", "logger: required", "projections: at least one"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("new with nothing: got %v, want it to name %q", err, want)
			}
		}
	})
}
