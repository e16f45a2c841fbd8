package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// sender is a fake publish.Sender: it keeps what it was sent, or fails while told to.
type sender struct {
	mu      sync.Mutex
	got     []event.ObservationSubmitted_v1
	failing error
	changed chan struct{}
}

func newSender() *sender { return &sender{changed: make(chan struct{})} }

func (s *sender) Send(_ context.Context, doc []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		return s.failing
	}
	var sub event.ObservationSubmitted_v1
	if err := json.Unmarshal(doc, &sub); err != nil {
		return err
	}
	s.got = append(s.got, sub)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *sender) Close() error { return nil }

func (s *sender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = err
}

// sent returns what was sent so far and a channel closed on the next send.
func (s *sender) sent() ([]event.ObservationSubmitted_v1, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.ObservationSubmitted_v1(nil), s.got...), s.changed
}

// node is a running agent over files in a temporary directory.
type node struct {
	t      *testing.T
	dir    string
	cfg    agent.Config
	key    ed25519.PrivateKey
	fp     []byte
	sender *sender
	agent  *agent.Agent
	stop   func()
}

// newNode writes the files (path relative to the node's root -> content) and configures an
// agent watching them; start runs it.
func newNode(t *testing.T, files map[string]string, tune func(*agent.Config)) *node {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for rel, content := range files {
		p := filepath.Join(dir, "root", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cfg := agent.Config{
		CIID: "node-1", Paths: paths, StateDir: filepath.Join(dir, "state"),
		Server: agent.ServerConfig{HTTPURL: "http://127.0.0.1:1"}, SnapshotInterval: time.Hour,
	}
	if tune != nil {
		tune(&cfg)
	}
	cfg.SetDefaults()
	return &node{t: t, dir: dir, cfg: cfg, key: key, fp: []byte("fingerprint-key-of-node-1"), sender: newSender()}
}

// path returns the absolute path of a file relative to the node's root.
func (n *node) path(rel string) string { return filepath.Join(n.dir, "root", rel) }

// start runs a fresh agent on the node's state and waits for its start-up snapshot.
func (n *node) start() {
	n.t.Helper()
	a, err := agent.New(n.cfg, agent.Deps{Key: n.key, FingerprintKey: n.fp, Sender: n.sender, Logger: zaptest.NewLogger(n.t, zaptest.Level(zap.InfoLevel))})
	if err != nil {
		n.t.Fatal(err)
	}
	n.agent = a
	ctx, cancel := context.WithCancel(n.t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				n.t.Errorf("run: %v", err)
			}
		})
	}
	n.t.Cleanup(n.stop)
	before := n.agent.Health().Snapshots
	n.waitFor("the start-up snapshot", func() bool {
		h := n.agent.Health()
		return h.Snapshots > before && h.Outbox.Spooled == 0
	})
}

// waitFor polls cond (and wakes on every send) until it holds, failing after 10 seconds.
func (n *node) waitFor(what string, cond func() bool) {
	n.t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		_, changed := n.sender.sent()
		select {
		case <-changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			n.t.Fatalf("timed out waiting for %s; health %+v", what, n.agent.Health())
		}
	}
}

// settled waits until no path waits for its save to end and nothing is left to send.
func (n *node) settled() {
	n.t.Helper()
	n.waitFor("the agent to settle", func() bool {
		h := n.agent.Health()
		return h.Pending == 0 && h.Outbox.Spooled == 0
	})
}

// scoped returns the observations sent so far that are scoped to path.
func (n *node) scoped(path string) []event.ObservationSubmitted_v1 {
	all, _ := n.sender.sent()
	var out []event.ObservationSubmitted_v1
	for _, s := range all {
		if len(s.Scope) == 1 && s.Scope[0] == agent.Pointer(path) {
			out = append(out, s)
		}
	}
	return out
}

// verify checks what every observation must be: signed by the node's key, for its CI, with a
// state hash that matches.
func (n *node) verify(subs ...event.ObservationSubmitted_v1) {
	n.t.Helper()
	cred := event.AgentEnrolled_v1{AgentID: n.cfg.AgentID, CIIDs: []string{n.cfg.CIID}, Algorithm: event.KeyAlgorithmEd25519,
		PublicKey: event.EncodePublicKey(n.key.Public().(ed25519.PublicKey))}
	for _, s := range subs {
		if err := event.Verify(s, cred); err != nil {
			n.t.Errorf("observation %s: %v", s.ID, err)
		}
		if err := s.Validate(); err != nil || s.CIID != n.cfg.CIID || s.AgentID != n.cfg.AgentID {
			n.t.Errorf("observation %s of %s by %s: %v", s.ID, s.CIID, s.AgentID, err)
		}
	}
}

// sh runs a shell command in the node's root.
func (n *node) sh(script string) {
	n.t.Helper()
	if err := runShell(filepath.Join(n.dir, "root"), script); err != nil {
		n.t.Fatal(err)
	}
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// contains reports whether every want is in s.
func contains(s string, want ...string) error {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return fmt.Errorf("%q lacks %q", s, w)
		}
	}
	return nil
}
