package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
)

func TestEventsListShowAndAck(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.observe(observation("web-20-1", "web-20", "off"))
	id := s.waitForDrifts("web-20", "open", 1).Items[0].DriftID

	r := s.cli("events", "list", "--ci", "web-20", "--format", "json")
	wantExit(t, "events list --format json", r, 0)
	var l driftList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || l.Total != 1 || l.Items[0].DriftID != id {
		t.Fatalf("events list: %+v (%v), want drift %s\n%s", l, err, id, r.stdout)
	}

	r = s.cli("events", "list", "--status", "open")
	wantExit(t, "events list", r, 0)
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "DRIFT ") || !strings.HasPrefix(rows[1], id+" ") ||
		strings.Index(rows[0], "CI ") != strings.Index(rows[1], "web-20") {
		t.Fatalf("events list table, want a header and one aligned row for %s:\n%s", id, r.stdout)
	}
	wantExit(t, "events list --status resolved", s.cli("events", "list", "--status", "resolved", "--format", "json"), 0)

	r = s.cli("events", "show", id)
	wantExit(t, "events show", r, 0)
	if !strings.Contains(r.stdout, "/power_state") || !strings.Contains(r.stdout, `"off"`) {
		t.Fatalf("events show:\n%s", r.stdout)
	}
	r = s.cli("events", "show", "no-such-drift")
	wantExit(t, "events show of an unknown drift", r, 1)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "404") {
		t.Fatalf("events show of an unknown drift: stderr %q, want one line with the 404", r.stderr)
	}

	r = s.cli("events", "ack", id, "--comment", "planned maintenance", "--format", "json")
	wantExit(t, "events ack", r, 0)
	var d struct {
		Status  string `json:"status"`
		Comment string `json:"acknowledge_comment"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Status != "acknowledged" || d.Comment != "planned maintenance" {
		t.Fatalf("events ack: %+v (%v)\n%s", d, err, r.stdout)
	}
	wantExit(t, "events ack without a token", runCLI(t, "events", "ack", id, "--api", s.url), 1)

	// The default policy names no remediation: the API refuses, saying why, on one line.
	r = s.cli("events", "remediate", id)
	wantExit(t, "events remediate without a remediation", r, 1)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "409") {
		t.Fatalf("events remediate: stderr %q, want one line with the 409", r.stderr)
	}
}

func TestEventsRemediate(t *testing.T) {
	t.Parallel()
	bodies := make(chan string, 10)
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		bodies <- string(raw)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/drift/events/d-1/remediate":
			fmt.Fprint(w, `{"action_id":"a-1","drift_id":"d-1","status":"succeeded"}`)
		case "/drift/events/d-2/remediate":
			fmt.Fprint(w, `{"action_id":"a-2","drift_id":"d-2","status":"failed","reason":"no executor"}`)
		default: // what a server without the route answers
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"type":"not-found","status":404,"detail":"no resource at %s"}`, r.URL.Path)
		}
	}))
	defer stub.Close()

	r := runCLI(t, "events", "remediate", "d-1", "--api", stub.URL, "--token", "t", "--reason", "drifted")
	wantExit(t, "events remediate that succeeds", r, 0)
	if body := <-bodies; !strings.Contains(r.stdout, `"succeeded"`) || !strings.Contains(body, `"reason":"drifted"`) {
		t.Fatalf("stdout %q, request body %q", r.stdout, body)
	}
	wantExit(t, "events remediate that fails", runCLI(t, "events", "remediate", "d-2", "--api", stub.URL), 1)
	r = runCLI(t, "events", "remediate", "d-3", "--api", stub.URL)
	wantExit(t, "events remediate without the route", r, 1)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no POST /drift/events/{id}/remediate route") {
		t.Fatalf("stderr %q, want one line naming the missing route", r.stderr)
	}
}

// tail runs `driftwatch events tail` with args until the test ends.
func tail(t *testing.T, s *server, args ...string) *proctest.Process {
	t.Helper()
	cmd := exec.Command(driftwatchBinary(t), append([]string{"events", "tail", "--api", s.url, "--token", adminToken}, args...)...)
	cmd.Env = os.Environ()
	return proctest.Start(t, "events tail", cmd)
}

// waitForTail flips ci between off and on until the tail prints a drift event of the given
// CloudEvents type: the tail follows from when it connected, which the test cannot see.
func waitForTail(t *testing.T, s *server, p *proctest.Process, ci, ceType string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		power := []string{"off", "on"}[i%2]
		s.observe(observation(fmt.Sprintf("%s-%d", ci, i), ci, power))
		seen := false
		proctest.WaitUntil(t, 10*time.Second, ci+" is "+power, func() bool {
			return len(s.drifts("?ci="+ci+"&status=open").Items) == 1-i%2
		})
		for _, line := range strings.Split(p.Output.String(), "\n") {
			var ev struct {
				SpecVersion string `json:"specversion"`
				Type        string `json:"type"`
				Subject     string `json:"subject"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Type == ceType && ev.Subject == ci && ev.SpecVersion == "1.0" {
				seen = true
			} else if line != "" && !strings.HasPrefix(line, "{") {
				t.Fatalf("the tail printed a line that is not JSON: %q", line)
			}
		}
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tail printed no %s for %s:\n%s", ceType, ci, p.Output.String())
		}
	}
}

func TestEventsTailFollowsTheAPIStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	p := tail(t, s)
	waitForTail(t, s, p, "web-21", "io.driftwatch.drift.detected.v1")
}

func TestEventsTailFollowsDriftDetectedOnRedis(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	p := tail(t, s, "--redis", redis.URL())
	waitForTail(t, s, p, "web-22", "io.driftwatch.drift.detected.v1")
}
