// Package ansible is the action stage's playbook executor: it runs an allowlisted
// remediation playbook with ansible-runner for drift.ActionKindPlaybook actions (SPEC-080,
// "trigger ansible-runner remediation").
//
// A request names a playbook by id; only <PlaybookDir>/<id>.yml (or .yaml) runs. Each
// action gets its own ansible-runner private data directory under DataDir, kept for audit:
// env/extravars holds the request's Vars and a driftwatch variable describing the drift,
// every string tagged !unsafe so that Ansible never templates it; env/settings holds the
// timeouts; inventory is the configured one or a generated one whose only host is the CI.
// ansible-runner runs with an argv (never a shell), a clean environment and its own process
// group, stopped when the context ends.
//
// Idempotence: the run's ident derives from the action id. When a run of the action already
// succeeded, Execute returns its recorded outcome without running the playbook again; a
// failed, timed out or canceled run is followed by a new attempt (ident-2, ident-3...).
// Runs of one action are serialised, across processes too, by a lock file.
//
// Safety: at most MaxConcurrent runs at once; after MaxFailures failed runs in a row the
// executor stops the rollout and refuses new runs until Reset. Cost: one ansible-runner
// process per action (seconds of CPU), a directory of artifacts per attempt.
package ansible

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/action"
)

// ErrJobTimeout is wrapped by the error of a run that outlived Config.JobTimeout.
// ErrIdleTimeout is wrapped by the error of a run that printed no event for longer than
// Config.IdleTimeout. Neither is permanent: ansible-runner killed the run, and a host that
// was slow or hung may answer another attempt; the retry policy bounds the attempts and
// MaxFailures counts them.
var (
	ErrJobTimeout  = errors.New("playbook run exceeded its job timeout")
	ErrIdleTimeout = errors.New("playbook run printed nothing for longer than its idle timeout")
)

// ErrRolloutStopped is wrapped, marked permanent, by the error of every new run after
// MaxFailures failed runs in a row, until Reset.
var ErrRolloutStopped = errors.New("rollout stopped")

// ErrRunnerNotFound is wrapped, marked permanent, when the ansible-runner executable cannot
// be found.
var ErrRunnerNotFound = errors.New("ansible-runner not found")

// OutputLimit bounds Outcome.Output; MessageLimit bounds each RunEvent.Message; EventLimit
// bounds Outcome.Events (the first ones are kept).
const (
	OutputLimit  = 64 << 10
	MessageLimit = 512
	EventLimit   = 500
)

// idPattern is what a playbook id looks like.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// envName is what an environment variable name looks like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// connPattern is what an ansible connection plugin name looks like.
var connPattern = regexp.MustCompile(`^[a-z][a-z0-9_.]*$`)

// Config tunes the executor.
type Config struct {
	// PlaybookDir is the allowlist: the directory whose <id>.yml or <id>.yaml files are the
	// playbooks a request may name (id: lowercase letters, digits, "_", "." and "-", at most
	// 64, starting with a letter or digit; .yml wins when both exist). Required.
	PlaybookDir string
	// DataDir holds one ansible-runner private data directory per action, with the
	// artifacts of every attempt, kept for audit. Required; created when missing.
	DataDir string
	// Inventory is an inventory file or directory linked into every run; the playbook is
	// limited to the CI's host in it. Default: a generated inventory whose one host is the
	// CI id.
	Inventory string
	// Connection is the ansible_connection of the generated inventory's host. Default
	// "local"; ignored with Inventory.
	Connection string
	// JobTimeout bounds one run (ansible-runner's job_timeout), in whole seconds. Default 10m.
	JobTimeout time.Duration
	// IdleTimeout bounds the time without an event (ansible-runner's idle_timeout), in whole
	// seconds. Default 2m.
	IdleTimeout time.Duration
	// MaxConcurrent is how many runs may go at once; others wait while their context
	// allows. Default 2.
	MaxConcurrent int
	// MaxFailures is how many failed runs in a row stop the rollout until Reset. Default 5;
	// negative: never stop.
	MaxFailures int
	// Runner is the path of ansible-runner. Default: looked up in PATH at every run.
	Runner string
	// PassEnv names variables of this process's environment handed to runs when set
	// (SSH_AUTH_SOCK, for one). Default none.
	PassEnv []string
	// Env adds static environment variables to runs (ANSIBLE_CONFIG, ANSIBLE_ROLES_PATH...);
	// they override the executor's own. Default none.
	Env map[string]string
}

func (c *Config) setDefaults() {
	if c.Connection == "" {
		c.Connection = "local"
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = 10 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 2
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
}

// Validate reports every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if fi, err := os.Stat(c.PlaybookDir); c.PlaybookDir == "" || err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Errorf("playbook dir: %q must be an existing directory", c.PlaybookDir))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir: required"))
	}
	if c.Inventory != "" {
		if _, err := os.Stat(c.Inventory); err != nil {
			errs = append(errs, fmt.Errorf("inventory: %w", err))
		}
	}
	if !connPattern.MatchString(c.Connection) {
		errs = append(errs, fmt.Errorf("connection: %q is not a connection plugin name", c.Connection))
	}
	if c.JobTimeout < time.Second {
		errs = append(errs, fmt.Errorf("job timeout: %s is below 1s", c.JobTimeout))
	}
	if c.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("idle timeout: %s is below 1s", c.IdleTimeout))
	}
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("max concurrent: %d must not be negative", c.MaxConcurrent))
	}
	if c.Runner != "" && !filepath.IsAbs(c.Runner) {
		errs = append(errs, fmt.Errorf("runner: %q must be an absolute path", c.Runner))
	}
	for _, k := range c.PassEnv {
		if !envName.MatchString(k) {
			errs = append(errs, fmt.Errorf("pass env: %q is not a variable name", k))
		}
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			errs = append(errs, fmt.Errorf("env: %q is not a variable name", k))
		}
	}
	return errors.Join(errs...)
}

// Executor implements action.Executor for drift.ActionKindPlaybook. It is safe for
// concurrent use.
type Executor struct {
	cfg   Config
	log   *zap.Logger
	slots chan struct{}

	mu       sync.Mutex
	failures int  // failed runs in a row
	stopped  bool // the rollout is stopped until Reset
}

var _ action.Executor = (*Executor)(nil)

// New returns an executor; it refuses a bad config. It does not look for ansible-runner:
// a missing one fails each run, permanently. A nil log discards.
func New(cfg Config, log *zap.Logger) (*Executor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new ansible executor: %w", err)
	}
	var err error
	if cfg.PlaybookDir, err = filepath.Abs(cfg.PlaybookDir); err != nil {
		return nil, fmt.Errorf("new ansible executor: playbook dir: %w", err)
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("new ansible executor: data dir: %w", err)
	}
	if cfg.Inventory != "" {
		if cfg.Inventory, err = filepath.Abs(cfg.Inventory); err != nil {
			return nil, fmt.Errorf("new ansible executor: inventory: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("new ansible executor: create data dir: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Executor{cfg: cfg, log: log, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// Reset lets a stopped rollout go on: it forgets the failed runs counted so far.
func (e *Executor) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		e.log.Info("Playbook rollout resumed", zap.String("stage", "action"))
	}
	e.failures, e.stopped = 0, false
}

// Stopped reports whether the rollout is stopped (see MaxFailures).
func (e *Executor) Stopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

// refuse is the error for a new run while the rollout is stopped, or nil.
func (e *Executor) refuse() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.stopped {
		return nil
	}
	return fmt.Errorf("%w after %d failed remediations in a row; no playbook runs until the executor is reset", ErrRolloutStopped, e.cfg.MaxFailures)
}

// count records the result of a run for MaxFailures.
func (e *Executor) count(failed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	if !failed {
		e.failures = 0
		return
	}
	e.failures++
	if e.cfg.MaxFailures > 0 && e.failures >= e.cfg.MaxFailures {
		e.stopped = true
		e.log.Info("Playbook rollout stopped after repeated failed remediations", zap.String("stage", "action"))
	}
}
