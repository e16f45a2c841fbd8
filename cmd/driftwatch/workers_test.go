package main_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/esdbfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/esdb"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// startWorker runs `driftwatch worker <stage>` and waits until it says it runs.
func startWorker(t *testing.T, stage string, args ...string) {
	t.Helper()
	w := runWorker(t, "worker "+stage, stage, append([]string{"--consumer", "test-" + stage}, args...)...)
	proctest.WaitUntil(t, 20*time.Second, "worker "+stage+" runs", func() bool {
		return strings.Contains(w.Output.String(), "Running worker")
	})
}

// TestStagesScaleOutAsWorkerProcesses runs the API alone and each stage as its own process,
// over a real redis-server and an event store speaking EventStoreDB's protocol.
func TestStagesScaleOutAsWorkerProcesses(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	es := esdbfake.Start(t)
	engines := []string{"--redis", redis.URL(), "--eventstore", es.URL()}
	s := startServer(t, t.TempDir(), append([]string{"--stages", "none"}, engines...)...)
	for _, stage := range []string{"ingest", "enrich", "diff", "policy", "emit"} {
		startWorker(t, stage, append([]string{"--data-dir", t.TempDir()}, engines...)...)
	}
	exercise(t, s, "web-05")
}

// TestTwoCopiesOfOneStageShareItThroughAKill9 runs the diff stage twice in one consumer
// group and kills one copy with SIGKILL while it holds entries: the other takes them over,
// every CI's drift arrives, and the event store holds every decision once.
func TestTwoCopiesOfOneStageShareItThroughAKill9(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	es := esdbfake.Start(t)
	engines := []string{"--redis", redis.URL(), "--eventstore", es.URL()}
	s := startServer(t, t.TempDir(), append([]string{"--stages", "none"}, engines...)...)
	for _, stage := range []string{"ingest", "enrich", "policy", "emit"} {
		startWorker(t, stage, append([]string{"--data-dir", t.TempDir()}, engines...)...)
	}
	copies := map[string]*proctest.Process{}
	for _, name := range []string{"diff-a", "diff-b"} {
		w := runWorker(t, "worker "+name, "diff", append([]string{"--consumer", name, "--redis-claim-idle", "2s", "--data-dir", t.TempDir()}, engines...)...)
		proctest.WaitUntil(t, 20*time.Second, name+" runs", func() bool { return strings.Contains(w.Output.String(), "Running worker") })
		copies[name] = w
	}
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)

	// Watch the group's pending entries per consumer while observations flow; kill diff-a
	// the moment it holds some.
	rdb := redis.Client()
	held := map[string]int64{}
	var killed atomic.Bool
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			p, err := rdb.XPending(context.Background(), topic.DesiredStateResolvedV2, "diff").Result()
			if err == nil {
				for c, n := range p.Consumers {
					held[c] = max(held[c], n)
				}
				if p.Consumers["diff-a"] > 0 && !killed.Load() {
					copies["diff-a"].Kill()
					killed.Store(true)
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	const cis = 300
	for i := range cis {
		ci := fmt.Sprintf("share-%03d", i)
		s.observe(observation(ci+"-1", ci, "off"))
	}
	proctest.WaitUntil(t, 30*time.Second, "every CI has its drift", func() bool {
		return s.drifts("?status=open&limit=1").Total == cis
	})
	close(stopWatch)
	<-watched
	if !killed.Load() {
		t.Fatalf("diff-a never held an entry to be killed with (pending seen: %v)", held)
	}
	if held["diff-b"] == 0 {
		t.Fatalf("diff-b never held an entry: the copies did not share the group (pending seen: %v)", held)
	}
	for i := range cis {
		if l := s.drifts(fmt.Sprintf("?ci=share-%03d", i)); l.Total != 1 {
			t.Fatalf("share-%03d: %d drifts, want 1", i, l.Total)
		}
	}
	store, err := esdb.Open(esdb.Config{URL: es.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	assertStoreHoldsEachFactOnce(t, store)
}
