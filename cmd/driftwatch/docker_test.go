package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/dockertest"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
)

// Labels of the Docker source's contract (README, "Docker source").
const (
	labelCI       = "io.driftwatch.ci"
	labelCIType   = "io.driftwatch.ci_type"
	labelTemplate = "io.driftwatch.template_id"
)

// dockerFlags point driftwatch at the test's own containers and quarantine network.
func dockerFlags(t *testing.T, d *dockertest.Daemon) []string {
	q := d.Name("quarantine")
	t.Cleanup(func() { d.RemoveNetwork(q) })
	return []string{"--docker-host", d.Host, "--docker-selector", d.Selector(), "--quarantine-network", q}
}

// containerTemplate declares the desired state of the containers bound to template id.
func (s *server) containerTemplate(id, power string, networks ...string) {
	s.t.Helper()
	s.put(http.MethodPut, "/templates/"+id, map[string]any{
		"template_id": id, "resource_type": "container",
		"template_definition": map[string]any{"power_state": power, "networks": networks},
	})
}

// policy governs the containers of template id.
func (s *server) policy(id, template, category, action string, fields ...string) {
	s.t.Helper()
	s.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": id, "template_id": template, "monitored_fields": fields, "severity": "high",
		"category": category, "action_type": action,
	})
}

// reported is a CI's last observed state as GET /drift/cis/{id} shows it.
type reported struct {
	Power    string   `json:"power_state"`
	Networks []string `json:"networks"`
}

func (s *server) reported(ci string) (reported, bool) {
	s.t.Helper()
	var view struct {
		State reported `json:"state"`
	}
	code := s.do(http.MethodGet, "/drift/cis/"+ci, nil, &view)
	return view.State, code == http.StatusOK
}

// waitReported waits until the CI's last observed state is the given one.
func (s *server) waitReported(ci string, within time.Duration, power string, networks ...string) {
	s.t.Helper()
	want := reported{Power: power, Networks: append([]string{}, networks...)}
	var got reported
	// WaitUntil fails the test with FailNow: deferred calls still run, and show the last state.
	defer func() {
		if s.t.Failed() {
			s.t.Logf("%s was last reported %+v", ci, got)
		}
	}()
	proctest.WaitUntil(s.t, within, fmt.Sprintf("%s is reported %+v", ci, want), func() bool {
		got, _ = s.reported(ci)
		return got.Power == want.Power && slices.Equal(got.Networks, want.Networks)
	})
}

// driftsOf lists the CI's drifts in a status.
func (s *server) driftsOf(ci, status string) []driftView {
	s.t.Helper()
	return s.drifts("?ci=" + ci + "&status=" + status).Items
}

// waitDrift waits until the CI has exactly one drift in status and returns it.
func (s *server) waitDrift(ci, status string, within time.Duration) driftView {
	s.t.Helper()
	var l []driftView
	proctest.WaitUntil(s.t, within, fmt.Sprintf("%s has one %s drift", ci, status), func() bool {
		l = s.driftsOf(ci, status)
		return len(l) == 1
	})
	return l[0]
}

// startManaged runs driftwatch over the test's own containers with one running container,
// <template>-1, bound to template (desired: running, on the bridge) and governed by the policy
// <template>-<category> with action on field, and waits until driftwatch reports it. It
// returns the daemon, the server, the container's CI and its id.
func startManaged(t *testing.T, template, category, action, field string) (*dockertest.Daemon, *server, string, string) {
	t.Helper()
	d := dockertest.Start(t)
	s := startServer(t, t.TempDir(), dockerFlags(t, d)...)
	s.containerTemplate(template, "running", "bridge")
	s.policy(template+"-"+category, template, category, action, field)
	ci := d.Name(template + "-1")
	id := d.Run(template+"-1", map[string]string{labelCI: ci, labelTemplate: template})
	s.waitReported(ci, 10*time.Second, "running", "bridge")
	return d, s, ci, id
}

func TestDockerStopOpensAStateDriftWithinTwoSecondsAndStartResolvesIt(t *testing.T) {
	t.Parallel()
	d, s, ci, id := startManaged(t, "web", "state", "none", "power_state")

	d.Stop(id)
	stopped := time.Now()
	got := s.waitDrift(ci, "open", 2*time.Second)
	t.Logf("docker stop: open drift after %s", time.Since(stopped).Round(time.Millisecond))
	if got.Field != "/power_state" || got.Category != "state" || string(got.Desired) != `"running"` || string(got.Actual) != `"stopped"` {
		t.Fatalf("drift %+v, want state drift on /power_state, running wanted, stopped found", got)
	}
	if !strings.Contains(got.Detail, d.Name("web-1")) {
		t.Errorf("drift detail %q does not name the container", got.Detail)
	}

	d.StartContainer(id)
	started := time.Now()
	s.waitDrift(ci, "resolved", 2*time.Second)
	t.Logf("docker start: resolved after %s", time.Since(started).Round(time.Millisecond))
	if open := s.driftsOf(ci, "open"); len(open) != 0 {
		t.Fatalf("open drifts after start: %+v", open)
	}
}

func TestDockerNetworkConnectOpensANetworkDriftNamingTheNetwork(t *testing.T) {
	t.Parallel()
	d, s, ci, id := startManaged(t, "api", "network", "none", "networks")

	rogue := d.Network("rogue")
	d.Connect(rogue, id)
	got := s.waitDrift(ci, "open", 2*time.Second)
	if got.Field != "/networks" || got.Category != "network" || !strings.Contains(string(got.Actual), `"`+rogue+`"`) || !strings.Contains(got.Detail, rogue) {
		t.Fatalf("drift %+v, want a network drift naming %s", got, rogue)
	}
	d.Disconnect(rogue, id)
	s.waitDrift(ci, "resolved", 2*time.Second)
}

func TestDockerQuarantineLeavesOnlyTheQuarantineNetworkAndReleaseRestoresTheSet(t *testing.T) {
	t.Parallel()
	d := dockertest.Start(t)
	dir := t.TempDir()
	flags := dockerFlags(t, d)
	q := d.Name("quarantine")
	s := startServer(t, dir, flags...)
	lan := d.Network("lan")
	s.containerTemplate("db", "running", "bridge", lan)
	s.policy("db-network", "db", "network", "quarantine", "networks")
	ci := d.Name("db-1")
	id := d.Run("db-1", map[string]string{labelCI: ci, labelTemplate: "db"}, "bridge", lan)
	s.waitReported(ci, 10*time.Second, "running", "bridge", lan)

	rogue := d.Network("rogue")
	d.Connect(rogue, id)
	driftID := s.waitDrift(ci, "open", 2*time.Second).DriftID
	// The policy asks for a quarantine: the container keeps the quarantine network only.
	proctest.WaitUntil(t, 10*time.Second, "the container is in quarantine", func() bool {
		_, nets := d.Inspect(id)
		return slices.Equal(nets, []string{q})
	})
	s.waitReported(ci, 10*time.Second, "running", q)

	var again map[string]any
	if code := s.do(http.MethodPost, "/drift/events/"+driftID+"/quarantine", map[string]string{"by": "alice"}, &again); code != http.StatusOK ||
		again["status"] != "succeeded" {
		t.Fatalf("quarantine again: %d %v", code, again)
	}
	// Remediating runs the policy's action, the same quarantine: answered, not performed again.
	out, err := exec.Command(driftwatchBinary(t), "remediate", "--api", s.url, "--token", adminToken, driftID).CombinedOutput()
	if err != nil || json.Unmarshal(bytes.TrimSpace(out), &again) != nil || again["status"] != "succeeded" || again["kind"] != "quarantine" {
		t.Fatalf("driftwatch remediate: %v\n%s", err, out)
	}

	// Release through the command line, as an operator would.
	out, err = exec.Command(driftwatchBinary(t), "release", "--api", s.url, "--token", adminToken, "--by", "alice", "--reason", "reviewed", driftID).CombinedOutput()
	if err != nil {
		t.Fatalf("driftwatch release: %v\n%s", err, out)
	}
	var answer struct {
		Status   string   `json:"status"`
		Changed  bool     `json:"changed"`
		Networks []string `json:"networks"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &answer); err != nil || answer.Status != "succeeded" || !answer.Changed {
		t.Fatalf("driftwatch release answered %s (%v)", out, err)
	}
	want := []string{"bridge", lan, rogue}
	if _, nets := d.Inspect(id); !slices.Equal(nets, want) || !slices.Equal(answer.Networks, want) {
		t.Fatalf("after release the container has %v (answer %v), want the set it had: %v", nets, answer.Networks, want)
	}
	s.waitReported(ci, 10*time.Second, "running", want...)
	s.Stop()

	// The facts: requested by the policy, done, then released on request.
	kinds := actionFacts(t, dir, ci)
	wantFacts := []string{"requested quarantine by policy", "succeeded quarantine changed [bridge " + lan + " " + rogue + "]",
		"requested release by alice", "succeeded release changed [bridge " + lan + " " + rogue + "]"}
	if !slices.Equal(kinds, wantFacts) {
		t.Fatalf("action facts\n%s\nwant\n%s", strings.Join(kinds, "\n"), strings.Join(wantFacts, "\n"))
	}
}

// actionFacts summarises a CI's action stream in the embedded event store of dataDir.
func actionFacts(t *testing.T, dataDir, ci string) []string {
	t.Helper()
	store, err := bolt.Open(bolt.Config{Dir: dataDir + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.ReadStream(context.Background(), event.ActionStreamPrefix+ci, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		env, err := event.FromStore(r)
		if err != nil {
			t.Fatal(err)
		}
		switch env.Type {
		case event.TypeActionRequested:
			m, _ := event.Decode[event.ActionRequested_v1](env)
			out = append(out, fmt.Sprintf("requested %s by %s", m.Fact.Kind, m.Fact.RequestedBy))
		case event.TypeActionSucceeded:
			m, _ := event.Decode[event.ActionSucceeded_v1](env)
			changed := "unchanged"
			if m.Fact.Changed {
				changed = "changed"
			}
			out = append(out, fmt.Sprintf("succeeded %s %s %v", m.Fact.Kind, changed, m.Fact.Networks))
		case event.TypeActionFailed:
			m, _ := event.Decode[event.ActionFailed_v1](env)
			out = append(out, fmt.Sprintf("failed %s: %s", m.Fact.Kind, m.Fact.Reason))
		}
	}
	return out
}

func TestDockerAutoCorrectStartsAStoppedContainer(t *testing.T) {
	t.Parallel()
	d, s, ci, id := startManaged(t, "worker", "state", "auto_correct", "power_state")

	d.Stop(id)
	proctest.WaitUntil(t, 10*time.Second, "driftwatch started the container again", func() bool {
		status, _ := d.Inspect(id)
		return status == "running" && len(s.driftsOf(ci, "resolved")) == 1
	})
}

func TestDockerReportsALabelledContainerWithoutDesiredStateAsUnmanaged(t *testing.T) {
	t.Parallel()
	d := dockertest.Start(t)
	s := startServer(t, t.TempDir(), dockerFlags(t, d)...)
	ci := d.Name("stray")
	d.Run("stray", map[string]string{labelCI: ci, labelCIType: "cache"})
	got := s.waitDrift(ci, "open", 10*time.Second)
	if got.Field != "" || got.Category != "state" || string(got.Desired) != "null" || !strings.Contains(got.Detail, "no desired state") {
		t.Fatalf("unmanaged finding %+v", got)
	}
	// A template for its type manages it: the next check resolves the finding.
	s.put(http.MethodPut, "/templates/cache", map[string]any{"template_id": "cache", "resource_type": "cache",
		"template_definition": map[string]any{"power_state": "running", "networks": []string{"bridge"}}})
	if code := s.do(http.MethodPost, "/drift/reconcile", nil, nil); code != http.StatusAccepted {
		t.Fatalf("POST /drift/reconcile: %d", code)
	}
	s.waitDrift(ci, "resolved", 5*time.Second)
}

// dockerCLI runs the docker command line, the test's independent view of the daemon.
func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// truth is what `docker ps -a` says of every CI the test created, as power state and sorted
// networks, cross-checked with `docker network inspect` for running containers.
func truth(t *testing.T, d *dockertest.Daemon) map[string]reported {
	t.Helper()
	out := map[string]reported{}
	attached := map[string][]string{} // container name -> networks whose inspect lists it
	ps := dockerCLI(t, "ps", "-a", "--filter", "label="+d.Selector(), "--format", `{{.Label "`+labelCI+`"}}|{{.Names}}|{{.State}}|{{.Networks}}`)
	names := map[string]string{}
	nets := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(ps), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 || f[0] == "" {
			continue
		}
		r := reported{Power: "stopped", Networks: []string{}}
		switch f[2] {
		case "running", "restarting":
			r.Power = "running"
		case "paused":
			r.Power = "paused"
		}
		if f[3] != "" {
			r.Networks = strings.Split(f[3], ",")
			slices.Sort(r.Networks)
		}
		for _, n := range r.Networks {
			nets[n] = true
		}
		out[f[0]], names[f[0]] = r, f[1]
	}
	for n := range nets {
		for _, c := range strings.Fields(dockerCLI(t, "network", "inspect", n, "--format", `{{range .Containers}}{{.Name}} {{end}}`)) {
			attached[c] = append(attached[c], n)
		}
	}
	for ci, r := range out {
		if r.Power == "stopped" {
			continue
		}
		got := attached[names[ci]]
		slices.Sort(got)
		if !slices.Equal(got, r.Networks) {
			t.Fatalf("docker ps -a says %s is on %v, docker network inspect says %v", ci, r.Networks, got)
		}
	}
	return out
}

// matches reports whether driftwatch reports every CI as docker shows it.
func matches(s *server, want map[string]reported) (bool, string) {
	for ci, w := range want {
		got, ok := s.reported(ci)
		if !ok || got.Power != w.Power || !slices.Equal(got.Networks, w.Networks) {
			return false, fmt.Sprintf("%s: driftwatch reports %+v, docker shows %+v", ci, got, w)
		}
	}
	return true, ""
}

func requireDockerCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Missing(t, "the docker command line is not on PATH: apt-get install docker.io")
	}
}
