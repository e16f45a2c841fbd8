package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// Reconcile is one POST /drift/reconcile: how long the call took, how long until the
// pipeline was idle again, what it compared and requested, and what it added to disk.
type Reconcile struct {
	CIs       int
	Call      time.Duration
	Idle      time.Duration
	Requested int
	AddedDisk int64
}

// MeasureReconcile runs POST /drift/reconcile and waits until the pipeline is idle.
func MeasureReconcile(ctx context.Context, s *SUT) (Reconcile, error) {
	before, err := s.DiskBytes()
	if err != nil {
		return Reconcile{}, err
	}
	start := time.Now()
	code, raw, err := s.Do(ctx, http.MethodPost, "/drift/reconcile", "", nil)
	if err != nil || code != http.StatusAccepted {
		return Reconcile{}, fmt.Errorf("POST /drift/reconcile: %d %s %v", code, raw, err)
	}
	r := Reconcile{Call: time.Since(start)}
	var sweep struct {
		CIs       int `json:"cis"`
		Requested int `json:"requested"`
	}
	if err := json.Unmarshal(raw, &sweep); err != nil {
		return Reconcile{}, err
	}
	r.CIs, r.Requested = sweep.CIs, sweep.Requested
	if err := s.WaitIdle(ctx, 300*time.Millisecond); err != nil {
		return Reconcile{}, err
	}
	// The quiet period that shows idleness is not part of the work.
	r.Idle = time.Since(start) - 300*time.Millisecond
	after, err := s.DiskBytes()
	if err != nil {
		return Reconcile{}, err
	}
	r.AddedDisk = after - before
	return r, nil
}

// Replay is a rebuild of fresh read models from a store of Facts facts.
type Replay struct {
	Facts   int
	Elapsed time.Duration
	PerSec  float64
}

// MeasureReplay writes a history of n facts into a fresh embedded store in dir (a mix of
// what a fleet produces: mostly unchanged and changed observations, verdicts, drifts opened
// and resolved, over n/10 CIs), then rebuilds every read model from position 0, timed.
func MeasureReplay(ctx context.Context, dir string, n int) (Replay, error) {
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "events")})
	if err != nil {
		return Replay{}, err
	}
	defer store.Close()
	if err := writeHistory(ctx, store, n); err != nil {
		return Replay{}, err
	}
	deps := projections.Deps{Store: store, Logger: zap.NewNop()}
	cfg := projections.Config{Path: filepath.Join(dir, "projections.db"), BatchSize: 4096}
	start := time.Now()
	if err := projections.Rebuild(ctx, cfg, deps, drifts.New(), catalog.New(), agents.New()); err != nil {
		return Replay{}, err
	}
	el := time.Since(start)
	return Replay{Facts: n, Elapsed: el, PerSec: float64(n) / el.Seconds()}, nil
}

// writeHistory appends n facts in batches of one AppendMany each.
func writeHistory(ctx context.Context, store eventstore.Store, n int) error {
	cis := max(1, n/10)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hash := func(i int) string { h, _ := drift.Hash(json.RawMessage(fmt.Sprintf(`{"i":%d}`, i%97))); return h }
	var batch []eventstore.Append
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := store.AppendMany(ctx, batch)
		batch = batch[:0]
		return err
	}
	for i := range n {
		ci := fmt.Sprintf("ci-%06d", i%cis)
		t := at.Add(time.Duration(i) * time.Millisecond)
		o := event.Observed{ObservationID: fmt.Sprint("o-", i), CIID: ci, CIType: "vm", ObservedAt: t, StateHash: hash(i)}
		var f event.Fact
		switch k := i % 20; {
		case k < 14:
			f = event.ObservationUnchanged_v1{ObservationID: o.ObservationID, CIID: ci, ObservedAt: t, ReceivedAt: t, StateHash: o.StateHash, Repeats: 1}
		case k < 17:
			f = event.ObservationReceived_v2{Observed: o, ReceivedAt: t}
		case k < 19:
			f = event.PolicyEvaluated_v2{Observed: o, Desired: event.DesiredRef{Source: "template", TemplateID: "vm", Version: 1, Hash: hash(0)},
				PolicyID: "default", Severity: drift.SeverityMedium, Category: drift.CategoryConfiguration, Checked: []string{""}, Differs: []string{"/i"}}
		default:
			id := event.DeriveID("drift", ci, fmt.Sprint(i/40))
			if (i/20)%2 == 0 {
				f = event.DriftDetected_v1{DriftID: id, CIID: ci, CIType: "vm", PolicyID: "default", ObservationID: o.ObservationID, Field: "/i",
					Desired: json.RawMessage(`0`), Actual: json.RawMessage(`1`), Patch: json.RawMessage(`[]`), Category: drift.CategoryConfiguration,
					Severity: drift.SeverityMedium, DetectedAt: t}
			} else {
				f = event.DriftResolved_v1{DriftID: event.DeriveID("drift", ci, fmt.Sprint((i-20)/40)), CIID: ci, Field: "/i", Reason: "matches", ResolvedAt: t}
			}
		}
		ev, stream, err := event.Record{ID: event.DeriveID("replay", fmt.Sprint(i)), Subject: ci, Time: t, Fact: f}.StoreEvent()
		if err != nil {
			return err
		}
		batch = append(batch, eventstore.Append{Stream: stream, Expected: eventstore.Any, Events: []eventstore.Event{ev}})
		if len(batch) == 2000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Appends is the embedded store's durable append rate under concurrent writers.
type Appends struct {
	Writers int
	PerSec  float64
	P50     time.Duration
	P99     time.Duration
	Commits uint64
}

// MeasureAppends runs writers goroutines, each appending one ~300-byte fact per call (each
// call durable before it returns: concurrent calls share a commit), for d.
func MeasureAppends(ctx context.Context, dir string, writers int, d time.Duration) (Appends, error) {
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "appends")})
	if err != nil {
		return Appends{}, err
	}
	defer store.Close()
	var n atomic.Uint64
	var mu sync.Mutex
	var lats []time.Duration
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				ci := fmt.Sprintf("ci-%d-%d", w, i%100)
				f := event.ObservationUnchanged_v1{ObservationID: fmt.Sprint("o-", w, "-", i), CIID: ci, ObservedAt: time.Now(), ReceivedAt: time.Now(),
					StateHash: "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0", Repeats: 1}
				ev, stream, err := event.Record{ID: event.DeriveID("append", fmt.Sprint(w, "-", i)), Subject: ci, Fact: f}.StoreEvent()
				if err != nil {
					failed.Store(&err)
					return
				}
				t := time.Now()
				if _, err := store.Append(ctx, stream, eventstore.Any, ev); err != nil {
					if ctx.Err() == nil {
						failed.Store(&err)
					}
					break
				}
				mine = append(mine, time.Since(t))
				n.Add(1)
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return Appends{}, *err
	}
	el := time.Since(start)
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	out := Appends{Writers: writers, PerSec: float64(n.Load()) / el.Seconds()}
	if len(lats) > 0 {
		out.P50, out.P99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}
	return out, nil
}
