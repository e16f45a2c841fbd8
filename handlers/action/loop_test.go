package action_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/ansible"
	"github.com/driftwatch/driftwatch/handlers/action/script"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/handlers/emit"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// The remediation loop at the level of the action stage: the real planner, runner and
// lifecycle over the real bolt store, the real emit stage deciding drifts from verdicts, the
// ansible executor running real ansible-runner, and the ServiceNow client against the fake
// instance. A test's observer plays the source and the diff: it reads a local directory
// target and hands the emit stage the verdict on it.

var snCreds = servicenowfake.Config{Username: "driftwatch", Password: "s3cret"}

// clock is a shared test clock that moves one second per reading, so that every fact is
// later than the one before.
type clock struct{ n atomic.Int64 }

func (c *clock) now() time.Time {
	return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(c.n.Add(1)) * time.Second)
}

// loop wires the action stage's stages as the router would, with a synchronous bus: every
// record a stage returns is appended to the store (idempotently by id) and delivered to the
// stages that consume its type; a stage that fails is delivered the message again.
type loop struct {
	t       *testing.T
	store   eventstore.Store
	clock   *clock
	emit    *emit.Emit
	planner *action.Planner
	runner  *action.Runner
	life    *action.Lifecycle

	mu        sync.Mutex
	delivered []event.Record
	// repeat delivers every message this many times (at-least-once delivery).
	repeat int
}

type loopConfig struct {
	exec     action.Executor
	attempts int
}

func newLoop(t *testing.T, cfg loopConfig) *loop {
	t.Helper()
	l := &loop{t: t, store: openStore(t), clock: &clock{}, repeat: 1}
	var err error
	if l.emit, err = emit.New(emit.Config{}, emit.Deps{Store: l.store, Now: l.clock.now}); err != nil {
		t.Fatal(err)
	}
	if l.planner, err = action.NewPlanner(action.PlannerDeps{Store: l.store, Now: l.clock.now}); err != nil {
		t.Fatal(err)
	}
	if l.runner, err = action.NewRunner(action.RunnerConfig{Attempts: 4}, l.store, cfg.exec, l.clock.now); err != nil {
		t.Fatal(err)
	}
	if l.life, err = action.NewLifecycle(action.LifecycleConfig{Attempts: cfg.attempts}, l.store, l.clock.now); err != nil {
		t.Fatal(err)
	}
	return l
}

func msg[F event.Fact](r event.Record, f F) event.Message[F] {
	return event.Message[F]{ID: r.ID, Subject: r.Subject, Time: r.Time, CorrelationID: r.CorrelationID, CausationID: r.CausationID, Fact: f}
}

// consumers are the stages a record goes to.
func (l *loop) consumers(r event.Record) []func(context.Context) ([]event.Record, error) {
	type stage = func(context.Context) ([]event.Record, error)
	switch f := r.Fact.(type) {
	case event.PolicyEvaluated_v2:
		return []stage{
			func(ctx context.Context) ([]event.Record, error) { return l.emit.Handle(ctx, msg(r, f)) },
			func(ctx context.Context) ([]event.Record, error) { return l.life.Verdicts().Handle(ctx, msg(r, f)) },
		}
	case event.DriftDetected_v1:
		return []stage{func(ctx context.Context) ([]event.Record, error) { return l.planner.Handle(ctx, msg(r, f)) }}
	case event.ActionRequested_v1:
		return []stage{func(ctx context.Context) ([]event.Record, error) { return l.runner.Handle(ctx, msg(r, f)) }}
	case event.ActionFailed_v1:
		return []stage{func(ctx context.Context) ([]event.Record, error) { return l.life.Failures().Handle(ctx, msg(r, f)) }}
	case event.ActionSucceeded_v1:
		return []stage{func(ctx context.Context) ([]event.Record, error) { return l.life.Successes().Handle(ctx, msg(r, f)) }}
	case event.DriftResolved_v1:
		return []stage{func(ctx context.Context) ([]event.Record, error) { return l.life.Resolutions().Handle(ctx, msg(r, f)) }}
	}
	return nil
}

// send appends recs and delivers them, and what they cause, until nothing is left. Each
// wave of messages is delivered concurrently, as a router's handlers run.
func (l *loop) send(recs ...event.Record) {
	l.t.Helper()
	queue := recs
	for len(queue) > 0 {
		for _, r := range queue {
			commit(l.t, l.store, r)
		}
		var next []event.Record
		var mu sync.Mutex
		var wg sync.WaitGroup
		slots := make(chan struct{}, 8)
		for _, r := range queue {
			l.mu.Lock()
			l.delivered = append(l.delivered, r)
			l.mu.Unlock()
			for _, c := range l.consumers(r) {
				for range l.repeat {
					wg.Add(1)
					slots <- struct{}{}
					go func() {
						defer func() { <-slots; wg.Done() }()
						out := l.handle(c)
						mu.Lock()
						next = append(next, out...)
						mu.Unlock()
					}()
				}
			}
		}
		wg.Wait()
		queue = next
	}
}

// handle delivers one message until its stage takes it, as the router's retry does.
func (l *loop) handle(c func(context.Context) ([]event.Record, error)) []event.Record {
	var err error
	for range 20 {
		var out []event.Record
		if out, err = c(context.Background()); err == nil {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.t.Errorf("a stage kept failing: %v", err)
	return nil
}

// facts returns the facts of type F delivered so far, one per id.
func facts[F event.Fact](l *loop) []F {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	var out []F
	for _, r := range l.delivered {
		if f, ok := r.Fact.(F); ok && !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, f)
		}
	}
	return out
}

// target is a local directory target: a CI whose state is the files of a directory.
type target struct {
	ci, dir string
	// desired is each file's desired content, by name.
	desired map[string]string
	// script is the policy's playbook, or script without autoRemediate.
	script        string
	autoRemediate bool
	n             int
}

func newTarget(t *testing.T, ci, script string, files map[string][2]string) *target {
	t.Helper()
	tg := &target{ci: ci, dir: t.TempDir(), desired: map[string]string{}, script: script, autoRemediate: true}
	for name, v := range files {
		tg.desired[name] = v[0]
		if err := os.WriteFile(filepath.Join(tg.dir, name), []byte(v[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tg
}

func jsonString(s string) json.RawMessage {
	raw, _ := json.Marshal(s)
	return raw
}

// observe reads the target and returns the verdict its policy gives: auto_correct with
// auto_change_request and the target's playbook (auto_remediate) or script.
func (tg *target) observe(t *testing.T, now time.Time) event.Record {
	t.Helper()
	tg.n++
	names := make([]string, 0, len(tg.desired))
	for name := range tg.desired {
		names = append(names, name)
	}
	sort.Strings(names)
	var drifts []drift.FieldDrift
	differs := []string{}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(tg.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) == tg.desired[name] {
			continue
		}
		field := "/files/" + name
		drifts = append(drifts, drift.FieldDrift{Field: field, Desired: jsonString(tg.desired[name]), Actual: jsonString(string(got)), Patch: json.RawMessage(`[]`)})
		differs = append(differs, field)
	}
	id := fmt.Sprintf("obs-%s-%d", tg.ci, tg.n)
	return event.Record{ID: event.DeriveID("policy-evaluated", id), Subject: tg.ci, Time: now, Fact: event.PolicyEvaluated_v2{
		Observed: event.Observed{ObservationID: id, CIID: tg.ci, CIType: "directory", ObservedAt: now, StateHash: "sha256:" + id},
		PolicyID: "files", PolicyVersion: 1, Severity: drift.SeverityHigh, Category: drift.CategoryConfiguration,
		DriftThreshold: 1, Differing: len(drifts), ThresholdMet: len(drifts) > 0, ActionType: drift.ActionAutoCorrect,
		AutoChangeRequest: true, AutoRemediate: tg.autoRemediate, Script: tg.script, Checked: []string{"/files/*"}, Drifts: drifts, Differs: differs,
	}}
}

// inventory writes an inventory whose hosts are the targets, each with its directory.
func inventory(t *testing.T, tgs ...*target) string {
	t.Helper()
	s := "[targets]\n"
	for _, tg := range tgs {
		s += tg.ci + " target_root=" + tg.dir + "\n"
	}
	s += "[targets:vars]\nansible_connection=local\nansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n"
	path := filepath.Join(t.TempDir(), "hosts.ini")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// remediation is an executor registry with the ansible executor over testdata/playbooks and
// the ServiceNow client over a fake instance.
func remediation(t *testing.T, inv string) (*action.Registry, *servicenowfake.Server) {
	t.Helper()
	if _, err := exec.LookPath("ansible-runner"); err != nil {
		testenv.Missing(t, "ansible-runner is not in PATH (apt-get install python3-ansible-runner ansible-core)")
	}
	reg, sn := tickets(t, 5*time.Second)
	a, err := ansible.New(ansible.Config{PlaybookDir: "testdata/playbooks", DataDir: t.TempDir(), Inventory: inv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(a, drift.ActionKindPlaybook); err != nil {
		t.Fatal(err)
	}
	return reg, sn
}

// tickets is an executor registry with the ServiceNow client over a fake instance.
func tickets(t *testing.T, timeout time.Duration) (*action.Registry, *servicenowfake.Server) {
	t.Helper()
	sn := servicenowfake.Start(t, snCreds)
	c, err := servicenow.New(servicenow.Config{Instance: sn.URL(), Username: snCreds.Username, Password: snCreds.Password, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := &action.Registry{}
	if err := reg.Register(action.Ticketing{Tickets: c}, action.TicketKinds...); err != nil {
		t.Fatal(err)
	}
	return reg, sn
}

func readString(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestLoop_restores_a_drifted_file_and_closes_its_change_request(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "files-1", "restore-file", map[string][2]string{
		"motd": {"Welcome to files-1\n", "hacked\n"}, "hosts": {"127.0.0.1 localhost\n", "127.0.0.1 localhost\n"},
	})
	reg, sn := remediation(t, inventory(t, tg))
	l := newLoop(t, loopConfig{exec: reg})

	l.send(tg.observe(t, l.clock.now()))
	if got := readString(t, filepath.Join(tg.dir, "motd")); got != "Welcome to files-1\n" {
		t.Fatalf("motd after the remediation: %q", got)
	}
	detected := facts[event.DriftDetected_v1](l)
	if len(detected) != 1 || detected[0].Field != "/files/motd" {
		t.Fatalf("drifts opened: %+v", detected)
	}
	d := detected[0]
	changes := sn.Records("change_request")
	if len(changes) != 1 || changes[0]["correlation_id"] != d.DriftID {
		t.Fatalf("change requests: %+v", changes)
	}
	var ran *event.ActionSucceeded_v1
	for _, s := range facts[event.ActionSucceeded_v1](l) {
		if s.Kind == drift.ActionKindPlaybook {
			ran = &s
		}
	}
	if ran == nil || ran.Run == nil || ran.Run.RC == nil || *ran.Run.RC != 0 || ran.Run.Status != "successful" || len(ran.Run.Events) == 0 || ran.Attempt != 1 {
		t.Fatalf("the playbook run's fact: %+v", ran)
	}

	// The next observation finds the file as desired: the drift resolves and its change
	// request is closed, with no one asking.
	l.send(tg.observe(t, l.clock.now()))
	if r := facts[event.DriftResolved_v1](l); len(r) != 1 || r[0].DriftID != d.DriftID {
		t.Fatalf("resolutions: %+v", r)
	}
	cr, _ := sn.Record("change_request", changes[0]["sys_id"])
	if cr["state"] != "3" || cr["close_code"] != "successful" || cr["close_notes"] == "" {
		t.Fatalf("the change request after the drift resolved: state %q, close_code %q, close_notes %q", cr["state"], cr["close_code"], cr["close_notes"])
	}
	if n := len(sn.Records("incident")); n != 0 || len(facts[event.DriftEscalated_v1](l)) != 0 {
		t.Fatalf("a resolved drift escalated: %d incidents", n)
	}
}

func TestLoop_restores_a_drifted_file_with_the_cards_script(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "files-7", "restore-file", map[string][2]string{"motd": {"Welcome $(id)\n", "hacked\n"}})
	tg.script, tg.autoRemediate = "restore-file", false
	path, err := filepath.Abs("testdata/scripts/restore-file.sh")
	if err != nil {
		t.Fatal(err)
	}
	reg, sn := tickets(t, 5*time.Second)
	sc, err := script.New(script.Config{Scripts: map[string]string{"restore-file": path}, Env: map[string]string{"TARGET_ROOT": tg.dir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(sc, drift.ActionKindScript); err != nil {
		t.Fatal(err)
	}
	l := newLoop(t, loopConfig{exec: reg})
	l.send(tg.observe(t, l.clock.now()))
	if got := readString(t, filepath.Join(tg.dir, "motd")); got != "Welcome $(id)\n" {
		t.Fatalf("motd after the script: %q", got)
	}
	l.send(tg.observe(t, l.clock.now()))
	cr := sn.Records("change_request")
	if len(cr) != 1 || cr[0]["state"] != "3" || len(facts[event.DriftResolved_v1](l)) != 1 {
		t.Fatalf("change requests after the drift resolved: %+v", cr)
	}
}

func TestLoop_escalates_a_drift_whose_playbook_keeps_failing(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "files-2", "broken", map[string][2]string{"motd": {"Welcome\n", "hacked\n"}})
	reg, sn := remediation(t, inventory(t, tg))
	l := newLoop(t, loopConfig{exec: reg, attempts: 3})

	l.send(tg.observe(t, l.clock.now()))
	var failed []event.ActionFailed_v1
	for _, f := range facts[event.ActionFailed_v1](l) {
		if f.Kind == drift.ActionKindPlaybook {
			failed = append(failed, f)
		}
	}
	if len(failed) != 3 {
		t.Fatalf("%d failed playbook attempts, want 3: %+v", len(failed), failed)
	}
	for i, f := range failed {
		if f.Run == nil || f.Run.RC == nil || *f.Run.RC == 0 || f.Run.Status != "failed" {
			t.Errorf("attempt %d's fact lacks the failed run: %+v", i+1, f.Run)
		}
	}
	esc := facts[event.DriftEscalated_v1](l)
	if len(esc) != 1 || esc[0].Attempts != 3 {
		t.Fatalf("escalations: %+v", esc)
	}
	incidents, changes := sn.Records("incident"), sn.Records("change_request")
	if len(incidents) != 1 || len(changes) != 1 {
		t.Fatalf("%d incidents and %d change requests, want one of each", len(incidents), len(changes))
	}
	if notes := sn.WorkNotes(changes[0]["sys_id"]); len(notes) != 1 {
		t.Errorf("work notes on the change request: %q", notes)
	}

	// Later verdicts that still find the drift, delivered twice, escalate nothing more.
	l.repeat = 2
	l.send(tg.observe(t, l.clock.now()))
	if n := len(sn.Records("incident")); n != 1 || len(facts[event.DriftEscalated_v1](l)) != 1 {
		t.Fatalf("%d incidents after another observation", n)
	}

	// Someone repairs the file: the drift resolves and both tickets are closed.
	if err := os.WriteFile(filepath.Join(tg.dir, "motd"), []byte("Welcome\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.send(tg.observe(t, l.clock.now()))
	inc, _ := sn.Record("incident", incidents[0]["sys_id"])
	cr, _ := sn.Record("change_request", changes[0]["sys_id"])
	if inc["state"] != "6" || cr["state"] != "3" {
		t.Fatalf("after the drift resolved: incident state %q, change request state %q", inc["state"], cr["state"])
	}
}

func TestLoop_tries_again_while_the_next_observation_still_finds_the_drift(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "files-5", "stamp", map[string][2]string{"motd": {"Welcome\n", "hacked\n"}})
	reg, sn := remediation(t, inventory(t, tg))
	l := newLoop(t, loopConfig{exec: reg, attempts: 2})
	playbooks := func() (ok int) {
		for _, s := range facts[event.ActionSucceeded_v1](l) {
			if s.Kind == drift.ActionKindPlaybook {
				ok++
			}
		}
		return ok
	}

	l.send(tg.observe(t, l.clock.now()))
	if n := playbooks(); n != 1 || len(facts[event.DriftEscalated_v1](l)) != 0 {
		t.Fatalf("%d successful runs after the first observation, want 1 and no escalation", n)
	}
	l.send(tg.observe(t, l.clock.now()))
	if n := playbooks(); n != 2 || len(facts[event.DriftEscalated_v1](l)) != 0 {
		t.Fatalf("%d successful runs after the drift was observed again, want 2 and no escalation", n)
	}
	l.send(tg.observe(t, l.clock.now()))
	if n, esc := playbooks(), facts[event.DriftEscalated_v1](l); n != 2 || len(esc) != 1 || esc[0].Attempts != 2 {
		t.Fatalf("after two attempts that changed nothing: %d runs, escalations %+v", n, esc)
	}
	if n := len(sn.Records("incident")); n != 1 {
		t.Fatalf("%d incidents, want 1", n)
	}
}

func TestLoop_tries_again_at_once_after_a_remediation_that_changed_nothing(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, "files-6", "noop", map[string][2]string{"motd": {"Welcome\n", "hacked\n"}})
	reg, sn := remediation(t, inventory(t, tg))
	l := newLoop(t, loopConfig{exec: reg, attempts: 2})

	// No observation follows a run that changed nothing: the CI is as it was, still drifted.
	l.send(tg.observe(t, l.clock.now()))
	runs := 0
	for _, s := range facts[event.ActionSucceeded_v1](l) {
		if s.Kind == drift.ActionKindPlaybook && !s.Changed {
			runs++
		}
	}
	if esc := facts[event.DriftEscalated_v1](l); runs != 2 || len(esc) != 1 || len(sn.Records("incident")) != 1 {
		t.Fatalf("%d unchanged runs, escalations %+v; want 2 and one escalation with its incident", runs, esc)
	}
}

func TestLoop_opens_one_change_request_per_drift_whatever_the_deliveries(t *testing.T) {
	t.Parallel()
	reg, sn := tickets(t, 300*time.Millisecond)
	l := newLoop(t, loopConfig{exec: reg})
	l.repeat = 3
	sn.Inject(servicenowfake.Fault{Method: "POST", Table: "change_request", Stall: true})
	var drifts []event.Record
	for i := range 200 {
		ci := fmt.Sprintf("vm-%03d", i)
		id := event.DeriveID("drift", ci, "/power_state")
		drifts = append(drifts, event.Record{ID: id, Subject: ci, Time: l.clock.now(), Fact: event.DriftDetected_v1{
			DriftID: id, CIID: ci, CIType: "vm", PolicyID: "vms", Field: "/power_state", Desired: jsonString("running"),
			Actual: jsonString("stopped"), Patch: json.RawMessage(`[]`), Category: drift.CategoryState, Severity: drift.SeverityMedium,
			ActionType: drift.ActionNone, AutoChangeRequest: true, DetectedAt: l.clock.now(),
		}})
	}
	l.send(drifts...)
	changes := sn.Records("change_request")
	corr := map[string]bool{}
	for _, c := range changes {
		corr[c["correlation_id"]] = true
	}
	if len(changes) != 200 || len(corr) != 200 {
		t.Fatalf("%d change requests for %d correlation ids, want 200", len(changes), len(corr))
	}
	stalled := 0
	for _, r := range sn.Requests() {
		if r.Stalled {
			stalled++
		}
	}
	if stalled != 1 {
		t.Fatalf("%d stalled creates, want the one injected", stalled)
	}
}

func TestLoop_never_runs_injected_values(t *testing.T) {
	t.Parallel()
	mark := filepath.Join(t.TempDir(), "pwned")
	payloads := map[string][2]string{
		"semicolon": {"; touch " + mark + "-1", "x"},
		"subshell":  {"$(touch " + mark + "-2)", "x"},
		"jinja":     {"{{ lookup('pipe', 'touch " + mark + "-3') }}", "x"},
		"overrides": {`{"ansible_connection": "ssh", "ansible_become": true, "ansible_shell_executable": "/bin/touch ` + mark + `-4"}`, "x"},
		// A file whose very name is a payload, as a drift's field.
		"$(touch pwned-5); {{ lookup('pipe', 'id') }}": {"inert\n", "x"},
	}
	tg := newTarget(t, "files-3", "restore-file", payloads)
	// A CI whose name is a payload cannot name an inventory host: nothing runs for it.
	bad := newTarget(t, "files-4;touch "+mark+"-6", "restore-file", map[string][2]string{"motd": {"$(id)", "x"}})
	reg, sn := remediation(t, inventory(t, tg))
	l := newLoop(t, loopConfig{exec: reg, attempts: 1})
	l.send(tg.observe(t, l.clock.now()), bad.observe(t, l.clock.now()))

	for name, v := range payloads {
		if got := readString(t, filepath.Join(tg.dir, name)); got != v[0] {
			t.Errorf("file %q holds %q, want the payload as written, %q", name, got, v[0])
		}
	}
	matches, _ := filepath.Glob(mark + "*")
	if _, err := os.Stat(filepath.Join(tg.dir, "pwned-5")); err == nil {
		matches = append(matches, "pwned-5")
	}
	if len(matches) != 0 {
		t.Fatalf("an injected command ran: %v", matches)
	}
	var refused bool
	for _, f := range facts[event.ActionFailed_v1](l) {
		if f.CIID == bad.ci && f.Kind == drift.ActionKindPlaybook && !f.Retryable && f.Run == nil {
			refused = true
		}
	}
	if !refused {
		t.Errorf("the playbook for CI %q was not refused", bad.ci)
	}
	// The tickets carry the payloads as text.
	found := false
	for _, c := range sn.Records("change_request") {
		if c["correlation_id"] != "" && c["short_description"] != "" && strings.Contains(c["description"], "$(id)") {
			found = true
		}
	}
	if !found {
		t.Errorf("no change request describes the payload as text")
	}
}
