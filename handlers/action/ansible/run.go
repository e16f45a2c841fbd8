package ansible

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/script"
)

// stopGrace is how long ansible-runner has, after SIGTERM, to cancel its playbook (it checks
// once a second, see pexpect_timeout) before its process tree is killed.
const stopGrace = 10 * time.Second

// backstopGrace is how much longer than JobTimeout the executor lets ansible-runner live
// before it stops it itself, in case ansible-runner hangs.
const backstopGrace = 30 * time.Second

// record is what the executor writes beside ansible-runner's artifacts, for audit.
type record struct {
	ActionID       string    `json:"action_id"`
	Ident          string    `json:"ident"`
	CIID           string    `json:"ci_id"`
	DriftID        string    `json:"drift_id,omitempty"`
	Playbook       string    `json:"playbook"`
	PlaybookPath   string    `json:"playbook_path"`
	PlaybookSHA256 string    `json:"playbook_sha256"`
	Started        time.Time `json:"started"`
}

// prepare writes the private data dir for attempt ident: env/extravars, env/settings, the
// inventory, and the attempt's artifacts dir with the executor's record. Files of an
// earlier attempt are replaced.
func (e *Executor) prepare(pd, ident string, pb playbook, r action.Request, vars map[string]any) error {
	for _, name := range []string{"env", "inventory", "args", "project"} {
		if err := os.RemoveAll(filepath.Join(pd, name)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(pd, "env"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pd, "env", "extravars"), unsafeYAML(vars), 0o600); err != nil {
		return err
	}
	settings, err := json.Marshal(map[string]any{
		"job_timeout":             seconds(e.cfg.JobTimeout),
		"idle_timeout":            seconds(e.cfg.IdleTimeout),
		"pexpect_timeout":         1,
		"suppress_ansible_output": true,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pd, "env", "settings"), settings, 0o600); err != nil {
		return err
	}
	if err := e.inventory(pd, r.CIID); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	art := filepath.Join(pd, "artifacts", ident)
	if err := os.Mkdir(art, 0o700); err != nil {
		return err
	}
	sum, err := pb.digest()
	if err != nil {
		return fmt.Errorf("read playbook %s: %w", pb.id, err)
	}
	rec, err := json.MarshalIndent(record{
		ActionID: r.ActionID, Ident: ident, CIID: r.CIID, DriftID: r.DriftID, Playbook: pb.id,
		PlaybookPath: pb.path, PlaybookSHA256: sum, Started: time.Now().UTC(),
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(art, "driftwatch.json"), rec, 0o600)
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// inventory links the configured inventory into pd, or generates one whose one host is the
// CI.
func (e *Executor) inventory(pd, ciID string) error {
	link := filepath.Join(pd, "inventory")
	if e.cfg.Inventory != "" {
		return os.Symlink(e.cfg.Inventory, link)
	}
	host := map[string]any{"ansible_connection": e.cfg.Connection}
	if e.cfg.Connection == "local" {
		// The executor's own template, not request data: the local host runs modules with
		// the Python that runs ansible, without interpreter discovery.
		host["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"
	}
	inv, err := json.Marshal(map[string]any{"all": map[string]any{"hosts": map[string]any{ciID: host}}})
	if err != nil {
		return err
	}
	if err := os.Mkdir(link, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(link, "hosts.yml"), inv, 0o600)
}

// environ is the clean environment ansible-runner runs with.
func (e *Executor) environ(pd, runner string) []string {
	vars := map[string]string{
		"PATH":                         filepath.Dir(runner) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME":                         pd,
		"LANG":                         "C.UTF-8",
		"ANSIBLE_NOCOLOR":              "1",
		"ANSIBLE_HOST_KEY_CHECKING":    "False",
		"ANSIBLE_RETRY_FILES_ENABLED":  "False",
		"ANSIBLE_DEPRECATION_WARNINGS": "False",
	}
	for _, k := range e.cfg.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	for k, v := range e.cfg.Env {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// invocation is how an ansible-runner process ended.
type invocation struct {
	// startErr is why ansible-runner could not start.
	startErr error
	// exit is how it exited ("exit status 2").
	exit string
	// output is what ansible-runner itself printed (the playbook's output goes to the
	// artifacts).
	output string
	// elapsed is the time from start to exit.
	elapsed time.Duration
	// backstop is set when the executor stopped ansible-runner for outliving its job
	// timeout.
	backstop bool
}

// invoke runs ansible-runner for attempt ident and waits for it. When ctx ends (or the
// backstop deadline passes) ansible-runner gets SIGTERM, upon which it cancels the
// playbook; stopGrace later its whole process tree is killed.
func (e *Executor) invoke(ctx context.Context, runner, pd, ident string, pb playbook, ciID string) invocation {
	runCtx, cancel := context.WithTimeout(ctx, e.cfg.JobTimeout+backstopGrace)
	defer cancel()
	out := script.NewBounded(8 << 10)
	cmd := exec.CommandContext(runCtx, runner,
		"run", "--ident="+ident, "--playbook="+pb.path, "--limit="+ciID, pd)
	cmd.Dir = pd
	cmd.Env = e.environ(pd, runner)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var (
		mu   sync.Mutex
		hard *time.Timer
	)
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		mu.Lock()
		hard = time.AfterFunc(stopGrace, func() { killTree(pid) })
		mu.Unlock()
		return syscall.Kill(-pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = stopGrace + 2*time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return invocation{startErr: err}
	}
	err := cmd.Wait()
	mu.Lock()
	if hard != nil {
		hard.Stop()
	}
	mu.Unlock()
	res := invocation{output: script.Redact(out.String()), elapsed: time.Since(start)}
	res.backstop = ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded)
	res.exit = "exit status 0"
	if err != nil {
		res.exit = err.Error()
	}
	return res
}

// killTree kills pid's descendants, with their process groups (ansible-runner starts the
// playbook in a session of its own), and then pid's own process group.
func killTree(pid int) {
	for _, child := range descendants(pid) {
		if pgid, err := syscall.Getpgid(child); err == nil && pgid != pid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// descendants lists pid's children, grandchildren and so on, from /proc.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
				out = append(out, descendants(c)...)
			}
		}
	}
	return out
}
