// Package script is the action stage's script executor: it runs an allowlisted remediation
// script, the card's auto_correct script, for drift.ActionKindScript actions.
//
// A request names a script by id; only the ids of Config.Scripts run. The executable gets
// the request's Args as its argv, unchanged and never through a shell, a clean environment
// (PATH, LANG, Config.Env and the DRIFTWATCH_* variables that describe the drift), stdin
// from /dev/null and its own process group, which is killed when the run times out or the
// context ends. Its combined stdout and stderr are captured, bounded and redacted.
//
// Idempotence: every run gets DRIFTWATCH_ACTION_ID, the action's stable id; with
// Config.StateDir set the executor also records each successful run and answers a repeat
// of the same action id from the record without running the script again. Cost: one
// process per action, plus a small JSON file per success with StateDir.
package script

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// UnchangedLine is the line a script prints, alone on its line, to say that the CI already
// was as it leaves it (Outcome.Changed false).
const UnchangedLine = "driftwatch: unchanged"

// DefaultPath is the PATH scripts run with unless Config.Env sets another.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// ErrTimeout is wrapped by the error of a run that outlived Config.Timeout. It is not
// permanent: the script was killed, and asking again may find the CI quicker to answer.
var ErrTimeout = errors.New("script timed out")

// idPattern is what a script id looks like.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// envName is what an environment variable name looks like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// killGrace is how long a killed run may take to close its output before Wait gives up on
// it (a grandchild that left the process group may hold the pipe).
const killGrace = 2 * time.Second

// Config tunes the executor.
type Config struct {
	// Scripts is the allowlist: it maps a script id (lowercase letters, digits, "_", "." and
	// "-", at most 64, starting with a letter or digit) to the absolute path of an
	// executable file. Required; a request for any other id is refused.
	Scripts map[string]string
	// Timeout bounds one run; the process group is killed after it. Default 5m.
	Timeout time.Duration
	// MaxOutputBytes bounds the captured output (stdout and stderr together); the first
	// quarter and the end are kept. Default 64 KiB; at least MinBounded.
	MaxOutputBytes int
	// Env adds static environment variables to every run; they may override PATH and LANG
	// but not the DRIFTWATCH_* variables. Default none.
	Env map[string]string
	// WorkDir is the absolute directory scripts run in. Default "/".
	WorkDir string
	// StateDir, when set, is an absolute directory where each successful run is recorded by
	// action id, so that a repeat returns the recorded outcome without running the script
	// again. Default "": nothing is recorded and a repeat runs the script again, which must
	// then be idempotent itself.
	StateDir string
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = 64 << 10
	}
	if c.WorkDir == "" {
		c.WorkDir = "/"
	}
}

// Validate reports every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Scripts) == 0 {
		errs = append(errs, errors.New("scripts: at least one is required"))
	}
	for id, path := range c.Scripts {
		if !idPattern.MatchString(id) {
			errs = append(errs, fmt.Errorf("scripts: id %q must match %s", id, idPattern))
		}
		if err := checkExecutable(path); err != nil {
			errs = append(errs, fmt.Errorf("scripts: %s: %w", id, err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	if c.MaxOutputBytes < MinBounded {
		errs = append(errs, fmt.Errorf("max output bytes: %d is below %d", c.MaxOutputBytes, MinBounded))
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			errs = append(errs, fmt.Errorf("env: %q is not a variable name", k))
		} else if strings.HasPrefix(k, "DRIFTWATCH_") {
			errs = append(errs, fmt.Errorf("env: %s is set by the executor", k))
		}
	}
	if fi, err := os.Stat(c.WorkDir); !filepath.IsAbs(c.WorkDir) || err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Errorf("work dir: %q must be an existing absolute directory", c.WorkDir))
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state dir: %q must be absolute", c.StateDir))
	}
	return errors.Join(errs...)
}

// checkExecutable refuses a path that is not absolute or not an executable regular file.
func checkExecutable(path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("%q must be a clean absolute path", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Executor implements action.Executor for drift.ActionKindScript. It is safe for concurrent
// use; runs are not limited in number (the action stage's concurrency bounds them).
type Executor struct {
	cfg Config
}

var _ action.Executor = (*Executor)(nil)

// New returns an executor; it refuses a bad config.
func New(cfg Config) (*Executor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new script executor: %w", err)
	}
	return &Executor{cfg: cfg}, nil
}

// Execute implements action.Executor: it runs the script r.Target names with r.Args. A
// non-zero exit returns the Outcome with a permanent error; a timeout, an error wrapping
// ErrTimeout that is not permanent; an unknown script, a kind other than script or a bad
// argument, a permanent error without running anything.
func (e *Executor) Execute(ctx context.Context, r action.Request) (action.Outcome, error) {
	if r.Kind != drift.ActionKindScript {
		return action.Outcome{}, fault.Permanent(fmt.Errorf("the script executor cannot %q", r.Kind))
	}
	path, ok := e.cfg.Scripts[r.Target]
	if !ok {
		return action.Outcome{}, fault.Permanent(fmt.Errorf("script %q is not in the allowlist", r.Target))
	}
	env, err := e.environ(r)
	if err != nil {
		return action.Outcome{}, fault.Permanent(fmt.Errorf("script %s: %w", r.Target, err))
	}
	for i, a := range r.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return action.Outcome{}, fault.Permanent(fmt.Errorf("script %s: argument %d holds a NUL byte", r.Target, i+1))
		}
	}
	if e.cfg.StateDir == "" {
		return e.run(ctx, r, path, env)
	}
	return e.once(ctx, r, path, env)
}

// environ is the clean environment of a run.
func (e *Executor) environ(r action.Request) ([]string, error) {
	desired, err := compactJSON(r.Desired)
	if err != nil {
		return nil, fmt.Errorf("desired value: %w", err)
	}
	actual, err := compactJSON(r.Actual)
	if err != nil {
		return nil, fmt.Errorf("actual value: %w", err)
	}
	vars := map[string]string{"PATH": DefaultPath, "LANG": "C.UTF-8"}
	for k, v := range e.cfg.Env {
		vars[k] = v
	}
	for k, v := range map[string]string{
		"DRIFTWATCH_CI_ID": r.CIID, "DRIFTWATCH_DRIFT_ID": r.DriftID, "DRIFTWATCH_FIELD": r.Field,
		"DRIFTWATCH_DESIRED": desired, "DRIFTWATCH_ACTUAL": actual, "DRIFTWATCH_ACTION_ID": r.ActionID,
	} {
		if strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("%s holds a NUL byte", k)
		}
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env, nil
}

// compactJSON is raw as one line of JSON; empty is null.
func compactJSON(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "null", nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// run runs the script once.
func (e *Executor) run(ctx context.Context, r action.Request, path string, env []string) (action.Outcome, error) {
	runCtx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	out := &markerWatch{w: NewBounded(e.cfg.MaxOutputBytes)}
	cmd := exec.CommandContext(runCtx, path, r.Args...)
	cmd.Args[0] = path
	cmd.Dir = e.cfg.WorkDir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killGrace
	target := "script " + r.Target
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return action.Outcome{Target: target}, fault.Permanent(fmt.Errorf("start script %s (%s): %w", r.Target, path, err))
	}
	waitErr := cmd.Wait()
	took := time.Since(start).Round(time.Millisecond)
	o := action.Outcome{Target: target, Output: Redact(out.w.String()), Status: "failed"}
	switch {
	case ctx.Err() != nil:
		return o, fmt.Errorf("script %s stopped after %s: %w", r.Target, took, ctx.Err())
	case runCtx.Err() != nil:
		o.Detail = fmt.Sprintf("script %s was killed after its timeout of %s", r.Target, e.cfg.Timeout)
		return o, fmt.Errorf("script %s: %w after %s; its process group was killed", r.Target, ErrTimeout, e.cfg.Timeout)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return o, fmt.Errorf("wait for script %s: %w", r.Target, waitErr)
	}
	rc := exitCode(cmd.ProcessState)
	o.RC = &rc
	if rc != 0 {
		o.Detail = fmt.Sprintf("script %s exited with status %d after %s", r.Target, rc, took)
		if last := lastLine(o.Output); last != "" {
			return o, fault.Permanent(fmt.Errorf("script %s exited with status %d: %s", r.Target, rc, last))
		}
		return o, fault.Permanent(fmt.Errorf("script %s exited with status %d", r.Target, rc))
	}
	o.Status = "successful"
	o.Changed = !out.seen()
	o.Detail = fmt.Sprintf("script %s succeeded after %s", r.Target, took)
	if !o.Changed {
		o.Detail += "; it reported nothing to change"
	}
	return o, nil
}

// exitCode is the process's exit status, or 128 plus the signal that ended it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// lastLine is the last non-empty line of s, cut to 200 bytes.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n\t ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
