package ansible

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/script"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// hostPattern is what a CI id must look like to name an inventory host and a --limit
// pattern: no pattern syntax (",", ":", "!", "&", "~", "@", "*", "[").
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,253}$`)

// Execute implements action.Executor: it runs the playbook r.Target names against the CI,
// or returns the recorded outcome of a run of the same action that already succeeded. A
// failed playbook returns the Outcome with a permanent error naming the failed task; a
// timeout, the Outcome with an error wrapping ErrJobTimeout or ErrIdleTimeout; a refused
// request (kind, playbook id, vars, CI id), a missing ansible-runner or a stopped rollout,
// a permanent error without running anything.
func (e *Executor) Execute(ctx context.Context, r action.Request) (action.Outcome, error) {
	if r.Kind != drift.ActionKindPlaybook {
		return action.Outcome{}, fault.Permanent(fmt.Errorf("the ansible executor cannot %q", r.Kind))
	}
	pb, err := e.resolve(r.Target)
	if err != nil {
		return action.Outcome{}, err
	}
	target := "playbook " + pb.id
	vars, err := extraVars(r)
	if err != nil {
		return action.Outcome{Target: target}, fmt.Errorf("playbook %s: %w", pb.id, err)
	}
	switch {
	case r.ActionID == "":
		return action.Outcome{Target: target}, fault.Permanent(errors.New("a playbook action needs an action id: runs are keyed by it"))
	case !hostPattern.MatchString(r.CIID):
		return action.Outcome{Target: target}, fault.Permanent(fmt.Errorf("ci id %q cannot name an inventory host", r.CIID))
	}

	key := script.RunKey(r.ActionID)
	pd := filepath.Join(e.cfg.DataDir, key)
	if err := os.MkdirAll(filepath.Join(pd, "artifacts"), 0o700); err != nil {
		return action.Outcome{Target: target}, fmt.Errorf("create the data dir of action %s: %w", r.ActionID, err)
	}
	unlock, err := script.LockFile(ctx, filepath.Join(pd, ".lock"))
	if err != nil {
		return action.Outcome{Target: target}, fmt.Errorf("lock action %s: %w", r.ActionID, err)
	}
	defer unlock()

	last, done, err := attempts(pd, key)
	if err != nil {
		return action.Outcome{Target: target}, err
	}
	if done != "" {
		rec, err := readRun(filepath.Join(pd, "artifacts", done))
		o := rec.outcome
		if err != nil {
			return action.Outcome{Target: target}, fmt.Errorf("read the recorded run %s: %w", done, err)
		}
		o.Target = target
		o.Detail = fmt.Sprintf("playbook %s already ran successfully for this action as run %s; not run again", pb.id, done)
		return o, nil
	}

	if err := e.refuse(); err != nil {
		return action.Outcome{Target: target}, fault.Permanent(err)
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return action.Outcome{Target: target}, fmt.Errorf("wait for a free run slot: %w", ctx.Err())
	}
	defer func() { <-e.slots }()
	if err := e.refuse(); err != nil {
		return action.Outcome{Target: target}, fault.Permanent(err)
	}
	runner, err := e.runner()
	if err != nil {
		return action.Outcome{Target: target}, fault.Permanent(err)
	}

	ident := key
	if last > 0 {
		ident = key + "-" + strconv.Itoa(last+1)
	}
	if err := e.prepare(pd, ident, pb, r, vars); err != nil {
		return action.Outcome{Target: target}, fmt.Errorf("prepare run %s: %w", ident, err)
	}
	res := e.invoke(ctx, runner, pd, ident, pb, r.CIID)
	o, err := e.conclude(ctx, pb, r, ident, filepath.Join(pd, "artifacts", ident), res)
	o.Target = target
	return o, err
}

// runner is the ansible-runner to run.
func (e *Executor) runner() (string, error) {
	name := e.cfg.Runner
	if name == "" {
		name = "ansible-runner"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w (%s): install ansible-runner or set the executor's Runner path: %v", ErrRunnerNotFound, name, err)
	}
	return path, nil
}

// attempts reads the action's earlier runs in its private data dir: the number of the last
// attempt (0 for none; key is attempt 1, key-N attempt N) and the ident of a successful one.
func attempts(pd, key string) (last int, done string, err error) {
	entries, err := os.ReadDir(filepath.Join(pd, "artifacts"))
	if err != nil {
		return 0, "", fmt.Errorf("list earlier runs: %w", err)
	}
	for _, d := range entries {
		n := 0
		switch name := d.Name(); {
		case name == key:
			n = 1
		case strings.HasPrefix(name, key+"-"):
			v, aerr := strconv.Atoi(name[len(key)+1:])
			if aerr != nil || v < 2 {
				continue
			}
			n = v
		default:
			continue
		}
		last = max(last, n)
		if status, _ := os.ReadFile(filepath.Join(pd, "artifacts", d.Name(), "status")); strings.TrimSpace(string(status)) == "successful" {
			done = d.Name()
		}
	}
	return last, done, nil
}

// conclude turns a finished run into the Outcome and error Execute returns, and counts it
// for MaxFailures.
func (e *Executor) conclude(ctx context.Context, pb playbook, r action.Request, ident, art string, res invocation) (action.Outcome, error) {
	rec, rerr := readRun(art)
	o := rec.outcome
	if rec.elapsed <= 0 {
		rec.elapsed = res.elapsed
	}
	finished := rerr == nil && o.Status == "successful"
	switch {
	case finished:
		// A run that succeeded stands, even when the context ended as it did.
	case ctx.Err() != nil:
		// The caller gave up (a shutdown): not a failure of the remediation.
		return o, fmt.Errorf("playbook %s run %s stopped: %w", pb.id, ident, ctx.Err())
	case res.backstop:
		e.count(true)
		o.Detail = fmt.Sprintf("playbook %s on %s as run %s: killed, ansible-runner outlived its job timeout of %s", pb.id, r.CIID, ident, e.cfg.JobTimeout)
		return o, fmt.Errorf("playbook %s run %s: %w of %s", pb.id, ident, ErrJobTimeout, e.cfg.JobTimeout)
	case res.startErr != nil:
		e.count(true)
		return o, fault.Permanent(fmt.Errorf("start ansible-runner for playbook %s: %w", pb.id, res.startErr))
	case rerr != nil:
		e.count(true)
		return o, fault.Permanent(fmt.Errorf("ansible-runner for playbook %s ended (%s) without recording a result: %s", pb.id, res.exit, tail(res.output)))
	}
	o.Detail = fmt.Sprintf("playbook %s on %s as run %s: %s, rc %s", pb.id, r.CIID, ident, o.Status, rcText(o.RC))
	switch o.Status {
	case "successful":
		e.count(false)
		if o.Changed {
			o.Detail += ", changed"
		} else {
			o.Detail += ", nothing changed"
		}
		return o, nil
	case "timeout":
		e.count(true)
		if rec.elapsed >= e.cfg.JobTimeout {
			return o, fmt.Errorf("playbook %s run %s: %w of %s", pb.id, ident, ErrJobTimeout, e.cfg.JobTimeout)
		}
		return o, fmt.Errorf("playbook %s run %s: %w of %s (ran %s)", pb.id, ident, ErrIdleTimeout, e.cfg.IdleTimeout, rec.elapsed.Round(time.Second))
	case "canceled":
		// Someone else stopped ansible-runner (a signal): worth another attempt.
		return o, fmt.Errorf("playbook %s run %s was canceled", pb.id, ident)
	default:
		e.count(true)
		return o, fault.Permanent(failure(pb.id, rec))
	}
}

// failure names what failed in a failed run: the last task that failed on a host, not
// ignored, else the rc and the end of the output.
func failure(id string, rec run) error {
	if ev := rec.failed; ev != nil {
		return fmt.Errorf("playbook %s failed at task %q on host %s: %s", id, ev.Task, ev.Host, ev.Message)
	}
	return fmt.Errorf("playbook %s failed with rc %s: %s", id, rcText(rec.outcome.RC), tail(rec.outcome.Output))
}

func rcText(rc *int) string {
	if rc == nil {
		return "unknown"
	}
	return strconv.Itoa(*rc)
}

// tail is the last non-empty line of an output, cut short.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if s == "" {
		return "no output"
	}
	return cut(s, 300)
}
