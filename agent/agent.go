// Package agent is driftwatch's node agent. It watches configuration files (SPEC-080's list by
// default) and reports their state to driftwatch as signed observations of one CI: per save,
// an observation scoped to the saved file with its redacted unified diff; on an interval, at
// start and after any gap (lost inotify events, a switch to polling, the agent's own
// downtime), a snapshot of every path with one state hash over the set, which driftwatch
// compares with the template's baseline hash.
//
// The state of an observation is {"files": {"<path>": {"sha256", "mode", "uid", "gid", "size",
// "kind"}}}: every observation carries every watched path, so a template for a node lists the
// desired files and a policy with monitored_fields ["/files/*"] makes one drift per file. The
// diff of a file rides in the observation's details under its field pointer
// ("/files/~1etc~1hosts") and shows on that file's drift.
//
// Sub-packages do the parts: watch (inotify and polling), capture (hashes, kinds, diffs),
// redact (hash-only paths and secret fingerprints), state (the last report, kept on disk),
// spool and publish (the ordered, bounded outbox and its Redis and HTTP senders), credential
// (keys and enrolment).
package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/agent/publish"
	"github.com/driftwatch/driftwatch/agent/redact"
	"github.com/driftwatch/driftwatch/agent/spool"
	"github.com/driftwatch/driftwatch/agent/state"
	"github.com/driftwatch/driftwatch/agent/watch"
)

// Deps are the agent's collaborators; Now is optional, the others are required.
type Deps struct {
	// Key signs observations.
	Key ed25519.PrivateKey
	// FingerprintKey keys the secret fingerprints of redaction.
	FingerprintKey []byte
	// Sender delivers observations (publish.NewRedis or publish.NewHTTP); the agent closes it.
	Sender publish.Sender
	// Logger receives lifecycle lines and failures.
	Logger *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Agent watches, captures and reports one node. Build it with New and call Run once.
type Agent struct {
	cfg   Config
	key   ed25519.PrivateKey
	log   *zap.Logger
	now   func() time.Time
	opts  capture.Options
	store *state.Store
	spool *spool.Spool
	out   *publish.Outbox

	// Owned by the loop goroutine.
	files     map[string]capture.File
	seq       uint64
	pending   map[string]*pending
	due       chan due
	order     []string // the paths, sorted
	keys      [][]byte // the JSON string of each path in order
	frags     map[string]fragment
	stateSize int

	mu      sync.Mutex
	status  status
	watcher *watch.Watcher
}

// status is what the loop tells the health file.
type status struct {
	pending   int
	gaps      map[string]int
	snapshots int
	lastObs   time.Time
	lastError string
}

// New validates cfg and deps and opens the state directory and the spool.
func New(cfg Config, deps Deps) (*Agent, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(deps.Key) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("key: an Ed25519 private key is required"))
	}
	if deps.Sender == nil {
		errs = append(errs, errors.New("sender: required"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	red, err := redact.New(deps.FingerprintKey, cfg.Redaction.HashOnly, cfg.Redaction.Patterns)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	store, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	sp, err := spool.Open(filepath.Join(cfg.StateDir, "spool.jsonl"), cfg.Spool.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	out, err := publish.NewOutbox(deps.Sender, sp, deps.Logger.Named("outbox"))
	if err != nil {
		_ = sp.Close()
		return nil, fmt.Errorf("new agent: %w", err)
	}
	order := slices.Sorted(slices.Values(cfg.Paths))
	keys := make([][]byte, len(order))
	for i, p := range order {
		keys[i], _ = json.Marshal(p)
	}
	return &Agent{
		cfg: cfg, key: deps.Key, log: deps.Logger, now: deps.Now,
		opts:  capture.Options{Redactor: red, MaxTextBytes: cfg.Redaction.MaxTextBytes},
		store: store, spool: sp, out: out,
		files: map[string]capture.File{}, pending: map[string]*pending{}, due: make(chan due, 64),
		order: order, keys: keys, frags: map[string]fragment{},
		status: status{gaps: map[string]int{}},
	}, nil
}

// Run watches and reports until ctx ends; it returns nil then, or the error that stopped it.
// It sets the watches up before the first scan, so no change slips between them.
func (a *Agent) Run(ctx context.Context) error {
	defer func() {
		_ = a.spool.Close()
		_ = a.outSender().Close()
	}()
	w, err := watch.New(watch.Config{
		Paths: a.cfg.Paths, PollInterval: a.cfg.PollInterval, Polling: a.cfg.Polling, Logger: a.log.Named("watch"),
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.watcher = w
	a.mu.Unlock()
	a.log.Info("Agent started", zap.String("ci_id", a.cfg.CIID), zap.String("agent_id", a.cfg.AgentID),
		zap.Int("paths", len(a.cfg.Paths)), zap.String("mode", string(w.Health().Mode)))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.out.Run(ctx) })
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error { return a.loop(ctx, w) })
	g.Go(func() error { return a.writeHealth(ctx) })
	err = g.Wait()
	a.log.Info("Agent stopped", zap.String("ci_id", a.cfg.CIID))
	return err
}

// outSender is the sender the outbox was built with, to close it.
func (a *Agent) outSender() publish.Sender { return a.out.Sender() }

// loop owns the reported state: it reports the start-up scan, then debounced changes,
// snapshots on the interval and after gaps.
func (a *Agent) loop(ctx context.Context, w *watch.Watcher) error {
	prev, found, err := a.store.Load()
	if err != nil {
		a.fail("load state", err)
	}
	reason := GapStart
	if found && prev.AgentID == a.cfg.AgentID && prev.CIID == a.cfg.CIID {
		a.seq, reason = prev.Seq, GapDowntime
		// Paths no longer configured are dropped; new ones were absent.
		for _, p := range a.cfg.Paths {
			f, ok := prev.Files[p]
			if !ok {
				f = capture.Absent
			}
			a.files[p] = f
		}
	}
	a.snapshot(reason)
	tick := time.NewTicker(a.cfg.SnapshotInterval)
	defer tick.Stop()
	defer a.cancelPending()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events():
			if ev.Gap != "" {
				a.cancelPending()
				a.snapshot(ev.Gap)
				continue
			}
			a.schedule(ctx, ev)
		case d := <-a.due:
			a.fire(ctx, d)
		case <-tick.C:
			a.snapshot(GapInterval)
		}
	}
}

// fail logs a failure when it differs from the previous one, and keeps it for health.
func (a *Agent) fail(what string, err error) {
	msg := what + ": " + err.Error()
	a.mu.Lock()
	repeated := a.status.lastError == msg
	a.status.lastError = msg
	a.mu.Unlock()
	if !repeated {
		a.log.Warn("Agent step failed", zap.String("step", what), zap.Error(err))
	}
}
