package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/esdbfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
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
