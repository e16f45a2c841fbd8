package main_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
)

// logLine is one line of driftwatch's JSON log, the members these tests judge.
type logLine struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Error      string `json:"error"`
	Stacktrace string `json:"stacktrace"`
}

// logLines decodes the JSON lines of a process's output, skipping anything else.
func logLines(out string) []logLine {
	var lines []logLine
	for _, s := range strings.Split(out, "\n") {
		var l logLine
		if json.Unmarshal([]byte(s), &l) == nil && l.Level != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestServeOnRedisStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL())
	exercise(t, s, "web-30")
	s.Stop()
	out := s.Output.String()
	lines := logLines(out)
	stopped := false
	for _, l := range lines {
		if l.Level != "debug" && l.Level != "info" {
			t.Errorf("a clean shutdown logged at %s: %s: %s", l.Level, l.Msg, l.Error)
		}
		if l.Stacktrace != "" {
			t.Errorf("%q carries a stack trace", l.Msg)
		}
		stopped = stopped || l.Msg == "Driftwatch stopped"
	}
	if !stopped {
		t.Fatalf("no \"Driftwatch stopped\" line in the output:\n%s", out)
	}
}

func TestAWorkerThatCannotStartFailsWithoutAStackTrace(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "worker", "diff", "--redis", "redis://127.0.0.1:1", "--data-dir", t.TempDir())
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "stacktrace") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("an expected failure printed a stack trace:\n%s", r.stderr)
	}
	failed := false
	for _, l := range logLines(r.stderr) {
		failed = failed || (l.Level == "error" && l.Msg == "Driftwatch stopped" && l.Error != "")
	}
	if !failed {
		t.Fatalf("no error line saying why the worker stopped:\n%s", r.stderr)
	}
}
