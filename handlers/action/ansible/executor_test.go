package ansible_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/ansible"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// runners keeps at most two ansible-runner runs of these tests going at once: each takes a
// second or more of CPU on a shared machine.
var runners = make(chan struct{}, 2)

// needRunner skips the test without ansible-runner and holds one of the runner places
// until it ends.
func needRunner(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ansible-runner"); err != nil {
		testenv.Missing(t, "ansible-runner is not in PATH (apt-get install python3-ansible-runner ansible-core)")
	}
	runners <- struct{}{}
	t.Cleanup(func() { <-runners })
}

// newExecutor is an executor over testdata/playbooks with a fresh data dir.
func newExecutor(t *testing.T, cfg ansible.Config) (*ansible.Executor, string) {
	t.Helper()
	if cfg.PlaybookDir == "" {
		cfg.PlaybookDir = "testdata/playbooks"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	e, err := ansible.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, cfg.DataDir
}

// request is a playbook request on ci-1 with vars.
func request(id, playbook string, vars map[string]any) action.Request {
	raw, err := json.Marshal(vars)
	if err != nil {
		panic(err)
	}
	return action.Request{
		ActionID: id, Kind: drift.ActionKindPlaybook, CIID: "ci-1", Target: playbook, Vars: raw,
		DriftID: "drift-" + id, Field: "files./etc/motd",
	}
}

// runDirs lists the attempt artifacts directories under a data dir.
func runDirs(t *testing.T, dataDir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, "*", "artifacts", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return dirs
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func hasTask(events []action.RunEvent, event, task string) bool {
	for _, ev := range events {
		if ev.Event == event && ev.Task == task {
			return true
		}
	}
	return false
}

func TestExecute_restores_a_drifted_file_once_per_action(t *testing.T) {
	t.Parallel()
	needRunner(t)
	e, data := newExecutor(t, ansible.Config{})
	dir := t.TempDir()
	file, counter := filepath.Join(dir, "motd"), filepath.Join(dir, "runs")
	if err := os.WriteFile(file, []byte("hacked by someone"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := request("restore-1", "restore-file", map[string]any{"restore_path": file, "counter": counter})
	r.Desired, r.Actual = json.RawMessage(`"Welcome to web-1"`), json.RawMessage(`"hacked by someone"`)

	first, err := e.Execute(context.Background(), r)
	if err != nil {
		t.Fatalf("execute: %v\n%s", err, first.Output)
	}
	if got := readFile(t, file); got != "Welcome to web-1" {
		t.Errorf("file holds %q, want the desired content", got)
	}
	if first.RC == nil || *first.RC != 0 || first.Status != "successful" || !first.Changed {
		t.Errorf("outcome rc %v, status %q, changed %v; want 0, successful, true", first.RC, first.Status, first.Changed)
	}
	if !hasTask(first.Events, "runner_on_ok", "Restore the file to its desired content") {
		t.Errorf("events lack the restore task: %+v", first.Events)
	}
	if first.Target != "playbook restore-file" || !strings.Contains(first.Output, "Restore the file to its desired content") {
		t.Errorf("target %q, output %q", first.Target, first.Output)
	}

	second, err := e.Execute(context.Background(), r)
	if err != nil {
		t.Fatalf("second execute: %v", err)
	}
	if runs := strings.Count(readFile(t, counter), "run of restore-1"); runs != 1 {
		t.Errorf("the playbook ran %d times, want once", runs)
	}
	if dirs := runDirs(t, data); len(dirs) != 1 {
		t.Errorf("runs recorded: %v, want one", dirs)
	}
	if !strings.Contains(second.Detail, "not run again") || second.Changed != first.Changed || second.Status != "successful" || len(second.Events) != len(first.Events) {
		t.Errorf("second outcome %+v does not repeat the recorded one %+v", second, first)
	}
}

func TestExecute_limits_a_configured_inventory_to_the_ci(t *testing.T) {
	t.Parallel()
	needRunner(t)
	inv := filepath.Join(t.TempDir(), "hosts.ini")
	hosts := "[web]\nci-1\nci-2\n[web:vars]\nansible_connection=local\nansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n"
	if err := os.WriteFile(inv, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	e, _ := newExecutor(t, ansible.Config{Inventory: inv})
	dir := t.TempDir()
	r := request("inventory-1", "restore-file", map[string]any{"restore_path": filepath.Join(dir, "motd"), "counter": filepath.Join(dir, "runs")})
	r.Desired = json.RawMessage(`"from the inventory"`)
	o, err := e.Execute(context.Background(), r)
	if err != nil {
		t.Fatalf("execute: %v\n%s", err, o.Output)
	}
	for _, ev := range o.Events {
		if ev.Host != "" && ev.Host != "ci-1" {
			t.Errorf("the run reached %s, beyond the CI", ev.Host)
		}
	}
	if !hasTask(o.Events, "runner_on_ok", "Restore the file to its desired content") {
		t.Errorf("events lack the restore task on ci-1: %+v", o.Events)
	}
}

func TestExecute_reports_a_failed_task_and_runs_again_later(t *testing.T) {
	t.Parallel()
	needRunner(t)
	e, data := newExecutor(t, ansible.Config{})
	gate := filepath.Join(t.TempDir(), "gate")
	r := request("gated-1", "gated", map[string]any{"gate": gate})

	o, err := e.Execute(context.Background(), r)
	if err == nil || !fault.IsPermanent(err) {
		t.Fatalf("error %v, want a permanent one", err)
	}
	if !strings.Contains(err.Error(), `"Require the gate to be open"`) {
		t.Errorf("error %q does not name the failed task", err)
	}
	if o.Status != "failed" || o.RC == nil || *o.RC == 0 {
		t.Errorf("status %q, rc %v; want failed and a non-zero rc", o.Status, o.RC)
	}
	if strings.Contains(o.Output, "abc123") || strings.Contains(err.Error(), "abc123") || !strings.Contains(o.Output, "token=[REDACTED]") {
		t.Errorf("the token is not masked: error %q, output %q", err, o.Output)
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err = e.Execute(context.Background(), r)
	if err != nil || o.Status != "successful" {
		t.Fatalf("second attempt: %v, status %q", err, o.Status)
	}
	if _, err := os.Stat(gate + ".passed"); err != nil {
		t.Errorf("the second attempt did not run the playbook: %v", err)
	}
	if o, err = e.Execute(context.Background(), r); err != nil || !strings.Contains(o.Detail, "not run again") {
		t.Errorf("third execute: %v, detail %q; want the recorded success", err, o.Detail)
	}
	if dirs := runDirs(t, data); len(dirs) != 2 || !strings.HasSuffix(dirs[1], "-2") {
		t.Errorf("runs recorded: %v, want the first and a -2", dirs)
	}
}

// processWith reports whether a live process has needle in its command line.
func processWith(needle string) bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		raw, err := os.ReadFile(c)
		if err == nil && strings.Contains(strings.ReplaceAll(string(raw), "\x00", " "), needle) {
			return true
		}
	}
	return false
}

// awaitGone waits until no process has needle in its command line.
func awaitGone(t *testing.T, needle string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for processWith(needle) {
		if time.Now().After(deadline) {
			t.Errorf("a process %q outlived its run", needle)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExecute_tells_a_job_timeout_from_an_idle_timeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    ansible.Config
		nap    string
		want   error
		notErr error
	}{
		{"job_timeout_stops_a_long_run", ansible.Config{JobTimeout: 3 * time.Second}, "41.25", ansible.ErrJobTimeout, ansible.ErrIdleTimeout},
		{"idle_timeout_stops_a_silent_run", ansible.Config{JobTimeout: 20 * time.Second, IdleTimeout: 2 * time.Second}, "42.25", ansible.ErrIdleTimeout, ansible.ErrJobTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			needRunner(t)
			e, _ := newExecutor(t, tt.cfg)
			start := time.Now()
			o, err := e.Execute(context.Background(), request("nap-"+tt.nap, "nap", map[string]any{"nap": tt.nap}))
			if !errors.Is(err, tt.want) || errors.Is(err, tt.notErr) || fault.IsPermanent(err) {
				t.Fatalf("error %v, want a retryable %v", err, tt.want)
			}
			if o.Status != "timeout" {
				t.Errorf("status %q, want timeout", o.Status)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("the run took %s", took)
			}
			awaitGone(t, "sleep "+tt.nap)
		})
	}
}

func TestExecute_stops_the_run_when_the_context_ends(t *testing.T) {
	t.Parallel()
	needRunner(t)
	e, data := newExecutor(t, ansible.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !processWith("sleep 43.25") {
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := e.Execute(ctx, request("cancel-1", "nap", map[string]any{"nap": "43.25"}))
	if !errors.Is(err, context.Canceled) || fault.IsPermanent(err) {
		t.Fatalf("error %v, want a retryable context.Canceled", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("stopping took %s", took)
	}
	awaitGone(t, "sleep 43.25")
	if dirs := runDirs(t, data); len(dirs) != 1 || strings.TrimSpace(readFile(t, filepath.Join(dirs[0], "status"))) != "canceled" {
		t.Errorf("runs %v, want one canceled", dirs)
	}
}

func TestExecute_keeps_injected_values_inert(t *testing.T) {
	t.Parallel()
	needRunner(t)
	e, _ := newExecutor(t, ansible.Config{})
	out := t.TempDir()
	pwned := filepath.Join(t.TempDir(), "pwned-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	plain := map[string]any{
		"semicolon": "; touch " + pwned + "-semicolon",
		"dollar":    "$(touch " + pwned + "-dollar)",
		"backtick":  "`touch " + pwned + "-backtick` `id`",
		"pipe":      "{{ lookup('pipe', 'touch " + pwned + "-pipe') }}",
		"statement": "{% for x in [1] %}{{ lookup('pipe', 'touch " + pwned + "-statement') }}{% endfor %}",
		"odd":       "quotes \" ' back\\slash \u0085 \u2028 é 😀 \t tab",
	}
	nested := map[string]any{
		"{{ lookup('pipe', 'touch " + pwned + "-key') }}": []any{"{{ lookup('pipe', 'touch " + pwned + "-list') }}", 1.5, 7, true, nil},
	}
	r := request("inject-1", "echo-values", map[string]any{"out_dir": out, "plain": plain, "nested": nested})
	r.Desired = json.RawMessage(`"{{ lookup('pipe', 'touch ` + pwned + `-desired') }}"`)
	r.Actual = json.RawMessage(`{"$(touch ` + pwned + `-actual)": "; touch ` + pwned + `-actual"}`)
	r.Field = "{{ lookup('pipe', 'touch " + pwned + "-field') }}"

	if o, err := e.Execute(context.Background(), r); err != nil {
		t.Fatalf("execute: %v\n%s", err, o.Output)
	}
	for k, v := range plain {
		if got := readFile(t, filepath.Join(out, k)); got != v {
			t.Errorf("%s arrived as %q, want the literal %q", k, got, v)
		}
	}
	var gotNested map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "nested.json"))), &gotNested); err != nil {
		t.Fatal(err)
	}
	if want, _ := json.Marshal(nested); !testenv.JSONEqual(t, want, []byte(readFile(t, filepath.Join(out, "nested.json")))) {
		t.Errorf("nested arrived as %v, want %s", gotNested, want)
	}
	var dw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "driftwatch.json"))), &dw); err != nil {
		t.Fatal(err)
	}
	var field string
	_ = json.Unmarshal(dw["field"], &field)
	if !testenv.JSONEqual(t, dw["desired"], r.Desired) || !testenv.JSONEqual(t, dw["actual"], r.Actual) || field != r.Field {
		t.Errorf("the drift arrived as %s", readFile(t, filepath.Join(out, "driftwatch.json")))
	}
	matches, _ := filepath.Glob(pwned + "*")
	if len(matches) > 0 {
		t.Errorf("injected commands ran: %v", matches)
	}
}

func TestExecute_refuses_unsafe_requests(t *testing.T) {
	t.Parallel()
	playbooks := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside.yml")
	for _, f := range []string{outside, filepath.Join(playbooks, "fine.yml")} {
		if err := os.WriteFile(f, []byte("- hosts: all\n  tasks: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(playbooks, "escape.yml")); err != nil {
		t.Fatal(err)
	}
	e, data := newExecutor(t, ansible.Config{PlaybookDir: playbooks, Runner: "/nonexistent/ansible-runner"})
	fine := request("refuse-1", "fine", nil)
	tests := []struct {
		name   string
		change func(*action.Request)
		want   string
	}{
		{"refuses_a_parent_path", func(r *action.Request) { r.Target = "../x" }, "not allowed"},
		{"refuses_an_absolute_path", func(r *action.Request) { r.Target = "/etc/passwd" }, "not allowed"},
		{"refuses_a_nested_path", func(r *action.Request) { r.Target = "a/b" }, "not allowed"},
		{"refuses_an_unknown_playbook", func(r *action.Request) { r.Target = "absent" }, "not in the playbook directory"},
		{"refuses_a_symlink_leaving_the_directory", func(r *action.Request) { r.Target = "escape" }, "leads out"},
		{"refuses_an_ansible_connection_var", func(r *action.Request) { r.Vars = json.RawMessage(`{"ansible_connection":"ssh"}`) }, "ansible_connection"},
		{"refuses_an_ansible_var_in_capitals", func(r *action.Request) { r.Vars = json.RawMessage(`{"ANSIBLE_BECOME":true}`) }, "ANSIBLE_BECOME"},
		{"refuses_a_key_that_is_no_variable_name", func(r *action.Request) { r.Vars = json.RawMessage(`{"a-b":1}`) }, "not a variable name"},
		{"refuses_a_reserved_variable", func(r *action.Request) { r.Vars = json.RawMessage(`{"hostvars":{}}`) }, "reserved"},
		{"refuses_vars_that_are_not_an_object", func(r *action.Request) { r.Vars = json.RawMessage(`["x"]`) }, "JSON object"},
		{"refuses_vars_that_are_not_json", func(r *action.Request) { r.Vars = json.RawMessage(`{"a":`) }, "vars"},
		{"refuses_a_ci_id_with_pattern_syntax", func(r *action.Request) { r.CIID = "all,!x" }, "inventory host"},
		{"refuses_a_request_without_an_action_id", func(r *action.Request) { r.ActionID = "" }, "action id"},
		{"refuses_another_kind", func(r *action.Request) { r.Kind = drift.ActionKindScript }, "cannot"},
		{"refuses_when_ansible_runner_is_missing", func(r *action.Request) {}, "ansible-runner not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fine
			tt.change(&r)
			_, err := e.Execute(context.Background(), r)
			if !fault.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a permanent one saying %q", err, tt.want)
			}
		})
	}
	t.Cleanup(func() {
		if dirs := runDirs(t, data); len(dirs) != 0 {
			t.Errorf("refused requests left runs: %v", dirs)
		}
	})
}

// TestExecute_waits_for_a_free_slot runs alone (not in parallel): it starts three runs.
func TestExecute_waits_for_a_free_slot(t *testing.T) {
	needRunner(t)
	runners <- struct{}{} // this test holds both places: it has two runs going at once
	defer func() { <-runners }()
	e, _ := newExecutor(t, ansible.Config{MaxConcurrent: 2})
	marks := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Execute(context.Background(), request(fmt.Sprintf("hold-%d", i), "hold", map[string]any{"mark_dir": marks}))
		}()
	}
	wg.Wait()
	type span struct{ start, end float64 }
	var spans []span
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		var s span
		for _, m := range []struct {
			ext string
			to  *float64
		}{{"start", &s.start}, {"end", &s.end}} {
			v, err := strconv.ParseFloat(readFile(t, filepath.Join(marks, fmt.Sprintf("hold-%d.%s", i, m.ext))), 64)
			if err != nil {
				t.Fatal(err)
			}
			*m.to = v
		}
		spans = append(spans, s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	if last := spans[2].start; last < spans[0].end && last < spans[1].end {
		t.Errorf("three runs held slots at once: %+v", spans)
	}
}

func TestExecute_stops_the_rollout_after_repeated_failures(t *testing.T) {
	t.Parallel()
	needRunner(t)
	e, data := newExecutor(t, ansible.Config{MaxFailures: 2})
	gate := filepath.Join(t.TempDir(), "gate")
	for i := range 2 {
		if _, err := e.Execute(context.Background(), request(fmt.Sprintf("fail-%d", i), "gated", map[string]any{"gate": gate})); err == nil || errors.Is(err, ansible.ErrRolloutStopped) {
			t.Fatalf("run %d: %v, want the playbook's failure", i, err)
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := request("after-stop", "gated", map[string]any{"gate": gate})
	_, err := e.Execute(context.Background(), r)
	if !errors.Is(err, ansible.ErrRolloutStopped) || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "rollout stopped after 2 failed remediations") {
		t.Fatalf("error %v, want a permanent rollout stop", err)
	}
	if !e.Stopped() || len(runDirs(t, data)) != 2 {
		t.Errorf("stopped %v, runs %v; want stopped after two runs", e.Stopped(), runDirs(t, data))
	}
	e.Reset()
	if o, err := e.Execute(context.Background(), r); err != nil || o.Status != "successful" {
		t.Errorf("after reset: %v, status %q", err, o.Status)
	}
}
