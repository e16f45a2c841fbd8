package main_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/eventstore/esdb/esdbfake"
	"github.com/driftwatch/driftwatch/pipeline/redistest"
)

// startWorker runs `driftwatch worker <stage>` and waits until it says it runs.
func startWorker(t *testing.T, stage string, args ...string) {
	t.Helper()
	cmd := exec.Command(driftwatchBinary(t), append([]string{"worker", stage, "--consumer", "test-" + stage}, args...)...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, logs: logs}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("worker %s logs:\n%s", stage, tail(logs.String(), 30))
		}
	})
	waitUntil(t, 20*time.Second, "worker "+stage+" runs", func() bool {
		return strings.Contains(logs.String(), "Running worker")
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
