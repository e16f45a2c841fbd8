package script_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/script"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// secretEnv is set in this test process's environment; no script may see it.
const secretEnv = "DRIFTWATCH_TEST_PARENT_SECRET"

func TestMain(m *testing.M) {
	os.Setenv(secretEnv, "parent-s3cret")
	os.Exit(m.Run())
}

// install copies testdata/<name>.sh to a private executable file and returns its path, so
// that the tests never depend on the checkout's file modes.
func install(t *testing.T, name string) string {
	t.Helper()
	src, err := os.Open(filepath.Join("testdata", name+".sh"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), name+".sh")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func newExecutor(t *testing.T, cfg script.Config) *script.Executor {
	t.Helper()
	e, err := script.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func request(id, target string, args ...string) action.Request {
	return action.Request{ActionID: id, Kind: drift.ActionKindScript, CIID: "web-1", Target: target, Args: args}
}

func TestExecute_passes_arguments_untouched(t *testing.T) {
	t.Parallel()
	argsFile := filepath.Join(t.TempDir(), "args")
	e := newExecutor(t, script.Config{
		Scripts: map[string]string{"args": install(t, "args")},
		Env:     map[string]string{"ARGS_FILE": argsFile},
	})
	pwned := filepath.Join(t.TempDir(), "pwned")
	args := []string{"$(id); rm -rf /", "; touch " + pwned, "`touch " + pwned + "`", "a b", "*", "", "--flag=x", "line\nbreak", "'\"\\"}

	o, err := e.Execute(context.Background(), request("args-1", "args", args...))
	if err != nil {
		t.Fatalf("execute: %v\n%s", err, o.Output)
	}
	raw, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if !slices.Equal(got, args) {
		t.Errorf("argv arrived as %q, want %q", got, args)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("an argument ran as a command")
	}
	if o.RC == nil || *o.RC != 0 || o.Status != "successful" || !o.Changed || o.Target != "script args" {
		t.Errorf("outcome %+v, want a successful change", o)
	}
}

func TestExecute_runs_with_a_clean_environment(t *testing.T) {
	t.Parallel()
	e := newExecutor(t, script.Config{
		Scripts: map[string]string{"env": install(t, "env")},
		Env:     map[string]string{"REMEDIATION_MODE": "strict"},
	})
	r := request("env-1", "env")
	r.DriftID, r.Field = "drift-9", "files./etc/motd"
	r.Desired, r.Actual = json.RawMessage(`{"mode": "0644"}`), json.RawMessage(`"0777"`)

	o, err := e.Execute(context.Background(), r)
	if err != nil {
		t.Fatalf("execute: %v\n%s", err, o.Output)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(o.Output, "\x00") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{
		"PATH": script.DefaultPath, "LANG": "C.UTF-8", "REMEDIATION_MODE": "strict",
		"DRIFTWATCH_CI_ID": "web-1", "DRIFTWATCH_DRIFT_ID": "drift-9", "DRIFTWATCH_FIELD": "files./etc/motd",
		"DRIFTWATCH_DESIRED": `{"mode":"0644"}`, "DRIFTWATCH_ACTUAL": `"0777"`, "DRIFTWATCH_ACTION_ID": "env-1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		if _, ok := want[k]; !ok && k != "PWD" && k != "SHLVL" && k != "_" {
			t.Errorf("unexpected variable %s=%q reached the script", k, env[k])
		}
	}
	if _, ok := env[secretEnv]; ok {
		t.Errorf("the parent's %s reached the script", secretEnv)
	}
	if o.Changed {
		t.Error("the script said driftwatch: unchanged, yet the outcome is a change")
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestExecute_kills_the_process_group_on_timeout(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	e := newExecutor(t, script.Config{
		Scripts: map[string]string{"hang": install(t, "hang")},
		Env:     map[string]string{"PID_FILE": pidFile, "NAP": "300"},
		Timeout: time.Second,
	})
	start := time.Now()
	o, err := e.Execute(context.Background(), request("hang-1", "hang"))
	if !errors.Is(err, script.ErrTimeout) || fault.IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("error %v, want a retryable timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the timeout took %s to act", took)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) {
		t.Errorf("the script's child %d outlived the timeout", child)
	}
	if o.Status != "failed" || o.RC != nil {
		t.Errorf("outcome %+v, want failed without an exit code", o)
	}
}

func TestExecute_captures_bounded_redacted_output_of_a_failure(t *testing.T) {
	t.Parallel()
	e := newExecutor(t, script.Config{Scripts: map[string]string{"noisy": install(t, "noisy")}, MaxOutputBytes: 4096})
	o, err := e.Execute(context.Background(), request("noisy-1", "noisy"))
	if !fault.IsPermanent(err) || !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("error %v, want a permanent exit status 3 with the last line", err)
	}
	if o.RC == nil || *o.RC != 3 || o.Status != "failed" {
		t.Errorf("rc %v, status %q; want 3, failed", o.RC, o.Status)
	}
	if len(o.Output) > 4096 {
		t.Errorf("output is %d bytes, over the 4096 allowed", len(o.Output))
	}
	for _, leak := range []string{"hunter2", "sk-12345", "final-secret-value"} {
		if strings.Contains(o.Output, leak) {
			t.Errorf("output leaks %q", leak)
		}
	}
	for _, kept := range []string{"password=[REDACTED]", "api_key: [REDACTED]", "Token = [REDACTED]", "bytes of output left out", "filler line 2999", "giving up"} {
		if !strings.Contains(o.Output, kept) {
			t.Errorf("output lacks %q:\n%s", kept, o.Output)
		}
	}
}

func TestExecute_runs_an_action_once_with_a_state_dir(t *testing.T) {
	t.Parallel()
	countFile := filepath.Join(t.TempDir(), "count")
	e := newExecutor(t, script.Config{
		Scripts:  map[string]string{"count": install(t, "count")},
		Env:      map[string]string{"COUNT_FILE": countFile},
		StateDir: t.TempDir(),
	})
	first, err := e.Execute(context.Background(), request("count-1", "count"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.Execute(context.Background(), request("count-1", "count"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Execute(context.Background(), request("count-2", "count")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(countFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(raw)); !slices.Equal(got, []string{"count-1", "count-2"}) {
		t.Errorf("runs %q, want count-1 once and count-2 once", got)
	}
	if !strings.Contains(second.Detail, "not run again") || second.Changed != first.Changed || *second.RC != 0 {
		t.Errorf("second outcome %+v does not repeat the first %+v", second, first)
	}
}

func TestExecute_refuses_what_it_must_not_run(t *testing.T) {
	t.Parallel()
	e := newExecutor(t, script.Config{Scripts: map[string]string{"args": install(t, "args")}})
	tests := []struct {
		name string
		r    action.Request
		want string
	}{
		{"refuses_an_unknown_script", request("r-1", "rm"), "not in the allowlist"},
		{"refuses_a_path_as_script_id", request("r-2", "/bin/sh"), "not in the allowlist"},
		{"refuses_an_argument_with_a_nul_byte", request("r-3", "args", "a\x00b"), "NUL"},
		{"refuses_another_kind", action.Request{ActionID: "r-4", Kind: drift.ActionKindPlaybook, Target: "args"}, "cannot"},
		{"refuses_a_desired_value_that_is_not_json", action.Request{ActionID: "r-5", Kind: drift.ActionKindScript, Target: "args", Desired: json.RawMessage(`{`)}, "desired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Execute(context.Background(), tt.r)
			if !fault.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a permanent one saying %q", err, tt.want)
			}
		})
	}
}

func TestNew_reports_every_problem(t *testing.T) {
	t.Parallel()
	notExec := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := script.New(script.Config{
		Scripts:  map[string]string{"Bad/ID": "/bin/true", "relative": "bin/true", "plain": notExec},
		Env:      map[string]string{"DRIFTWATCH_CI_ID": "x", "no good": "y"},
		WorkDir:  "relative",
		StateDir: "state",
		Timeout:  -time.Second,
	})
	if err == nil {
		t.Fatal("a bad config was accepted")
	}
	for _, want := range []string{"Bad/ID", "relative", "not an executable", "DRIFTWATCH_CI_ID", "no good", "work dir", "state dir", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
