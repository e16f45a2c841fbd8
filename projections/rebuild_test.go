package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/drifts"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

// scenario is a history with every kind of fact the read models consume, redeliveries of
// the same facts under new event ids, and changes that undo earlier ones.
func scenario(round int) []event.Record {
	at := time.Date(2026, 2, 22, 10, round, 0, 0, time.UTC)
	var recs []event.Record
	add := func(subject string, f event.Fact) {
		recs = append(recs, event.Record{ID: event.DeriveID("scenario", fmt.Sprint(round, len(recs))), Subject: subject, Time: at, Fact: f})
	}
	for i := range 3 {
		ci := fmt.Sprintf("vm-%d", i)
		state := json.RawMessage(fmt.Sprintf(`{"power_state":"on","cpu_count":%d,"round":%d}`, i+1, round))
		add(ci, event.ObservationReceived_v1{ObservationID: fmt.Sprintf("obs-%d-%d", round, i), CIID: ci, CIType: "vm",
			ObservedAt: at, ReceivedAt: at, State: state})
		detected := event.DriftDetected_v1{DriftID: fmt.Sprintf("drift-%d-%d", round, i), CIID: ci, CIType: "vm", PolicyID: "p1",
			ObservationID: fmt.Sprintf("obs-%d-%d", round, i), Field: "/power_state", Desired: json.RawMessage(`"on"`),
			Actual: json.RawMessage(`"off"`), Category: drift.CategoryState, Severity: []drift.Severity{"low", "high", "critical"}[i],
			DetectedAt: at}
		add(ci, detected)
		add(ci, detected) // the same fact recorded twice
		switch i {
		case 1:
			add(ci, event.DriftAcknowledged_v1{DriftID: detected.DriftID, CIID: ci, By: "ann", AcknowledgedAt: at})
		case 2:
			add(ci, event.DriftResolved_v1{DriftID: detected.DriftID, CIID: ci, Field: "/power_state", Reason: "matches", ResolvedAt: at})
		}
	}
	tmpl := drift.Template{ID: fmt.Sprintf("t-%d", round), ResourceType: "vm", Definition: json.RawMessage(`{"power_state":"on"}`)}
	add(tmpl.ID, event.TemplateChanged_v1{Template: tmpl, ChangedAt: at})
	add("p1", event.PolicyChanged_v1{Policy: drift.Policy{ID: "p1", CIType: "vm", DriftThreshold: round + 1}, ChangedAt: at})
	if round > 0 {
		add("t-0", event.TemplateChanged_v1{Template: drift.Template{ID: "t-0"}, Deleted: true, ChangedAt: at})
	}
	return recs
}

// dump returns every key and value of a bbolt file, by bucket path.
func dump(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+"/"+string(k), b.Bucket(k))
			}
			out[prefix+"/"+string(k)] = string(v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatalf("dump %s: %v", path, err)
	}
	return out
}

func TestRebuild(t *testing.T) {
	t.Parallel()

	t.Run("replaying_from_zero_into_a_fresh_file_gives_the_same_read_models", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		store, log := memstore.New(), zap.NewNop()
		deps := projections.Deps{Store: store, Logger: log}
		live := filepath.Join(t.TempDir(), "live.db")

		// Build live over two runs, appending while the runner follows the store.
		for run := range 2 {
			r, err := projections.New(projections.Config{Path: live, BatchSize: 3}, deps, drifts.New(), catalog.New())
			if err != nil {
				t.Fatalf("new live runner: %v", err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- r.Run(runCtx) }()
			for round := run * 2; round < run*2+2; round++ {
				pos := projections.AppendRecords(t, store, scenario(round)...)
				if err := r.WaitFor(ctx, pos); err != nil {
					t.Fatalf("wait for round %d: %v", round, err)
				}
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		}

		rebuilt := filepath.Join(t.TempDir(), "rebuilt.db")
		if err := projections.Rebuild(ctx, projections.Config{Path: rebuilt}, deps, drifts.New(), catalog.New()); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		want, got := dump(t, live), dump(t, rebuilt)
		if len(want) < 20 {
			t.Fatalf("live model holds only %d keys: the scenario did not reach it", len(want))
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got[k] != want[k] {
				t.Errorf("key %s: rebuilt %q, live %q", k, got[k], want[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("key %s only in the rebuilt file", k)
			}
		}
	})
}
