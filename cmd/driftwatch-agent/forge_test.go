package main_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/agent/credential"
	"github.com/driftwatch/driftwatch/agent/publish"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// hostAgent writes an agent config for a CI watching files in a temporary directory, and
// returns the config path and the directory. The agent publishes to Redis, or with POST
// /observations when viaHTTP is set.
func hostAgent(t *testing.T, s *stack, ci, extra string, viaHTTP bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	files := filepath.Join(dir, "etc")
	if err := os.MkdirAll(filepath.Join(files, "ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"hosts": "127.0.0.1 localhost\n", "ssh/sshd_config": "Port 22\n"} {
		if err := os.WriteFile(filepath.Join(files, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "agent.yaml")
	server := "server:\n  redis_url: " + s.redis.URL() + "\n  http_url: " + s.url + "\n"
	if viaHTTP {
		server = "server:\n  http_url: " + s.url + "\n"
	}
	content := "ci_id: " + ci + "\npaths: [" + filepath.Join(files, "hosts") + ", " + filepath.Join(files, "ssh", "sshd_config") + "]\n" +
		"state_dir: " + filepath.Join(dir, "state") + "\nsnapshot_interval: 1h\n" + server + extra
	if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, files
}

// agentCmd runs the agent binary with args and the enrolment token in its environment.
func agentCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(agentBinary(t), args...)
	cmd.Env = append(os.Environ(), "DRIFTWATCH_ENROL_TOKEN="+enrolToken)
	return cmd
}

// startAgent runs `driftwatch-agent run` (through wrap, when set, e.g. unshare) until the
// test ends.
func startAgent(t *testing.T, cfg string, wrap ...string) *proctest.Process {
	t.Helper()
	args := append(append([]string{}, wrap...), agentBinary(t), "run", "--config", cfg)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DRIFTWATCH_ENROL_TOKEN="+enrolToken)
	return proctest.Start(t, "agent", cmd, proctest.WithStopTimeout(10*time.Second))
}

// rejection is one item of GET /observations/rejected.
type rejection struct {
	ObservationID string             `json:"observation_id"`
	CIID          string             `json:"ci_id"`
	AgentID       string             `json:"agent_id"`
	Reason        event.RejectReason `json:"reason"`
}

func (s *stack) rejections() []rejection {
	s.t.Helper()
	var l struct {
		Items []rejection `json:"items"`
	}
	if code := s.do(http.MethodGet, "/observations/rejected", nil, &l); code != http.StatusOK {
		s.t.Fatalf("GET /observations/rejected: %d", code)
	}
	return l.Items
}

func TestForgedObservationsAreRejectedAndRecorded(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	// web-a is a real agent, enrolled by its own command with the operator's token.
	cfgA, _ := hostAgent(t, s, "web-a", "", false)
	if out, err := agentCmd(t, "enrol", "--config", cfgA).CombinedOutput(); err != nil {
		t.Fatalf("enrol web-a: %v\n%s", err, out)
	}
	startAgent(t, cfgA)
	proctest.WaitUntil(t, 20*time.Second, "web-a reports", func() bool { _, ok := s.ci("web-a"); return ok })
	// web-b is enrolled too: its key is not web-a's.
	_, keyB, _ := ed25519.GenerateKey(rand.Reader)
	var enrolled map[string]any
	if err := credential.Enrol(t.Context(), http.DefaultClient, s.url, enrolToken, credential.NewEnrolment("web-b", []string{"web-b"}, keyB)); err != nil {
		t.Fatal(err)
	}
	if code := s.do(http.MethodGet, "/agents/web-b", nil, &enrolled); code != http.StatusOK {
		t.Fatalf("GET /agents/web-b: %d", code)
	}
	keyA, _, err := credential.LoadOrCreateKey(filepath.Join(filepath.Dir(cfgA), "state", "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	obs := func(id, ci string) event.ObservationSubmitted_v1 {
		s := event.ObservationSubmitted_v1{Observation: drift.Observation{
			ID: id, CIID: ci, CIType: "node", Source: "agent", ObservedAt: time.Now().UTC(),
			State: json.RawMessage(`{"files":{"/etc/hosts":{"kind":"absent"}}}`),
		}}
		s.StateHash, _ = drift.Hash(s.State)
		return s
	}
	// 1. web-a's own key, signing for web-b's CI: published straight to the stream, as a
	// compromised node would.
	foreign := obs("forged-foreign", "web-b")
	if err := event.Sign(&foreign, "web-a", keyA); err != nil {
		t.Fatal(err)
	}
	// 2. Claiming to be web-b, signed with web-a's key.
	impostor := obs("forged-impostor", "web-b")
	if err := event.Sign(&impostor, "web-b", keyA); err != nil {
		t.Fatal(err)
	}
	// 3. web-a's valid observation of its own CI, with the state changed after signing.
	tampered := obs("forged-tampered", "web-a")
	if err := event.Sign(&tampered, "web-a", keyA); err != nil {
		t.Fatal(err)
	}
	tampered.State = json.RawMessage(`{"files":{}}`)
	red, err := publish.NewRedis(s.redis.URL(), topic.Observations, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer red.Close()
	for _, f := range []event.ObservationSubmitted_v1{foreign, impostor, tampered} {
		doc, _ := json.Marshal(f)
		if err := red.Send(t.Context(), doc); err != nil {
			t.Fatal(err)
		}
	}
	// 4. Unsigned, over HTTP, while the server requires signatures: refused at once, and
	// recorded.
	unsigned := obs("forged-unsigned", "web-b")
	if code := s.do(http.MethodPost, "/observations", unsigned, nil); code != http.StatusUnauthorized {
		t.Fatalf("POST /observations of an unsigned observation: %d, want 401", code)
	}
	want := map[string]event.RejectReason{
		"forged-foreign": event.RejectForeignCI, "forged-impostor": event.RejectBadSignature,
		"forged-tampered": event.RejectBadSignature, "forged-unsigned": event.RejectUnsigned,
	}
	proctest.WaitUntil(t, 20*time.Second, "four rejections", func() bool { return len(s.rejections()) >= len(want) })
	for _, r := range s.rejections() {
		if want[r.ObservationID] != r.Reason {
			t.Errorf("rejection %+v, want reason %q", r, want[r.ObservationID])
		}
	}
	if _, ok := s.ci("web-b"); ok {
		t.Fatal("a forged observation reached web-b's state")
	}
	var a struct {
		Rejected int `json:"rejected"`
	}
	s.do(http.MethodGet, "/agents/web-a", nil, &a)
	if a.Rejected != 2 {
		t.Errorf("web-a counts %d rejected observations, want 2 (foreign, tampered)", a.Rejected)
	}
	if n := len(s.entries(topic.ObservationRejected, "-")); n != 4 {
		t.Errorf("%d entries on %s, want 4", n, topic.ObservationRejected)
	}
	// A reconcile judges web-a's last accepted state again in place, submitting nothing: it
	// is no forgery.
	var sweep struct {
		CIs int `json:"cis"`
	}
	if code := s.do(http.MethodPost, "/drift/reconcile", nil, &sweep); code != http.StatusAccepted || sweep.CIs == 0 {
		t.Fatalf("POST /drift/reconcile: %d, %+v", code, sweep)
	}
	if n := len(s.rejections()); n != 4 {
		t.Fatalf("%d rejections after a reconcile, want still 4", n)
	}
	// Each rejection was logged once, and recorded in the event store.
	s.Stop()
	if n := strings.Count(s.Output.String(), `"msg":"Observation rejected"`); n != 4 {
		t.Errorf("%d log lines for 4 rejections", n)
	}
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(s.dataDir, "events")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.ReadAll(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, r := range recs {
		if r.Type == event.TypeObservationRejected && strings.HasPrefix(r.Stream, "rejected-") {
			recorded++
			if !bytes.Contains(r.Data, []byte(`"reason"`)) {
				t.Errorf("recorded rejection %s has no reason", r.ID)
			}
		}
	}
	if recorded != 4 {
		t.Errorf("%d rejections in the event store, want 4", recorded)
	}
}

func TestTheWatchLimitDegradesToPollingAndSaysSoInHealth(t *testing.T) {
	t.Parallel()
	// A user namespace of our own gets its own inotify watch limit (Linux 5.11+): one watch
	// for two directories, without touching the machine's limit.
	probe := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", "echo 1 > /proc/sys/user/max_inotify_watches")
	if out, err := probe.CombinedOutput(); err != nil {
		testenv.Missing(t, "unshare --user cannot set a private inotify watch limit (%v): %s", err, bytes.TrimSpace(out))
		return
	}
	s := startStack(t)
	// This agent publishes with POST /observations: signed observations over HTTP.
	cfg, files := hostAgent(t, s, "web-p", "poll_interval: 100ms\n", true)
	startAgent(t, cfg, "unshare", "--user", "--map-root-user", "sh", "-c", `echo 1 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"`)
	health := filepath.Join(filepath.Dir(cfg), "state", "health.json")
	var h struct {
		Status string `json:"status"`
		Watch  struct {
			Mode   string `json:"mode"`
			Reason string `json:"reason"`
		} `json:"watch"`
	}
	proctest.WaitUntil(t, 20*time.Second, "health says polling", func() bool {
		raw, err := os.ReadFile(health)
		return err == nil && json.Unmarshal(raw, &h) == nil && h.Watch.Mode == "polling"
	})
	if !strings.Contains(h.Watch.Reason, "ENOSPC") || h.Status != "degraded" {
		t.Fatalf("health %+v does not give the reason", h)
	}
	proctest.WaitUntil(t, 20*time.Second, "web-p reports", func() bool { _, ok := s.ci("web-p"); return ok })
	if err := os.WriteFile(filepath.Join(files, "ssh", "sshd_config"), []byte("Port 2222\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.WaitUntil(t, 20*time.Second, "the polled change reaches driftwatch", func() bool {
		c, _ := s.ci("web-p")
		return filesOf(t, c.State)[filepath.Join(files, "ssh", "sshd_config")].Size == int64(len("Port 2222\n"))
	})
	if out, err := agentCmd(t, "health", "--config", cfg).CombinedOutput(); err != nil || !bytes.Contains(out, []byte(`"mode": "polling"`)) {
		t.Fatalf("driftwatch-agent health: %v\n%s", err, out)
	}
	if r := s.rejections(); len(r) != 0 {
		t.Fatalf("observations sent over HTTP were rejected: %+v", r)
	}
}
