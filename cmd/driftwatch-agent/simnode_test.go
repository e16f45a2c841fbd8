package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// entries reads a whole stream, after the entry id from ("-" for all).
func (s *stack) entries(stream, from string) []goredis.XMessage {
	s.t.Helper()
	if from != "-" {
		from = "(" + from
	}
	msgs, err := s.redis.Client().XRange(s.t.Context(), stream, from, "+").Result()
	if err != nil {
		s.t.Fatalf("xrange %s: %v", stream, err)
	}
	return msgs
}

// lastID returns the id of a stream's newest entry, "0-0" when it is empty.
func (s *stack) lastID(stream string) string {
	s.t.Helper()
	msgs, err := s.redis.Client().XRevRangeN(s.t.Context(), stream, "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		return "0-0"
	}
	return msgs[0].ID
}

// decodeAll decodes the facts of type F in stream entries.
func decodeAll[F event.Fact](t *testing.T, msgs []goredis.XMessage) []event.Message[F] {
	t.Helper()
	var out []event.Message[F]
	for _, m := range msgs {
		f, err := event.DecodeMessage[F](redisbus.DecodeEntry(m.Values, 0))
		if err != nil {
			t.Fatalf("entry %s: %v", m.ID, err)
		}
		out = append(out, f)
	}
	return out
}

// detected returns the drifts on drift.detected, the public stream.
func (s *stack) detected() []event.DriftDetected_v1 {
	var out []event.DriftDetected_v1
	for _, m := range decodeAll[event.DriftDetected_v1](s.t, s.entries(topic.DriftDetected, "-")) {
		out = append(out, m.Fact)
	}
	return out
}

// observations returns the observations of ci on the observations stream after from.
func (s *stack) observations(ci, from string) []event.ObservationSubmitted_v1 {
	var out []event.ObservationSubmitted_v1
	for _, m := range decodeAll[event.ObservationSubmitted_v1](s.t, s.entries(topic.Observations, from)) {
		if m.Fact.CIID == ci {
			out = append(out, m.Fact)
		}
	}
	return out
}

// filesOf decodes the files of a state.
func filesOf(t *testing.T, state json.RawMessage) map[string]capture.File {
	t.Helper()
	var st struct {
		Files map[string]capture.File `json:"files"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatalf("state %s: %v", state, err)
	}
	return st.Files
}

// useTemplate makes ci's current state the desired state of every node, with a policy that
// makes each file its own drift.
func (s *stack) useTemplate(ci string) {
	s.t.Helper()
	c, _ := s.ci(ci)
	if code := s.do(http.MethodPut, "/templates/sim-node", map[string]any{
		"template_id": "sim-node", "resource_type": "node", "template_definition": c.State,
	}, nil); code != http.StatusCreated {
		s.t.Fatalf("PUT /templates/sim-node: %d", code)
	}
	if code := s.do(http.MethodPost, "/drift/policies", map[string]any{
		"id": "node-files", "ci_type": "node", "monitored_fields": []string{"/files/*"},
		"severity": "high", "category": "configuration",
	}, nil); code != http.StatusCreated {
		s.t.Fatalf("POST /drift/policies: %d", code)
	}
}

// settled waits until the node's agent has nothing pending or spooled.
func (n *node) settled() {
	n.t.Helper()
	proctest.WaitUntil(n.t, 20*time.Second, n.ci+"'s agent settles", func() bool {
		h := n.health()
		out, _ := h["outbox"].(map[string]any)
		return h != nil && h["pending"] == 0.0 && out["spooled"] == 0.0
	})
}

func TestSimNodesReportEverySaveStyleAsOneDriftWithItsDiff(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	nodes := map[string]*node{}
	for _, ci := range []string{"sim-a", "sim-b", "sim-c"} {
		nodes[ci] = createNode(t, ci, agentConfig(s, ci, nil, ""))
	}
	for _, n := range nodes {
		n.start(s)
	}
	s.useTemplate("sim-a")
	saves := []struct {
		style, ci, path, script string
		want                    []string
	}{
		{"rename over", "sim-a", "/etc/ssh/sshd_config",
			`sed 's/^Port 22$/Port 2201/' /etc/ssh/sshd_config > /etc/ssh/.sshd_config.new && chmod 600 /etc/ssh/.sshd_config.new && mv /etc/ssh/.sshd_config.new /etc/ssh/sshd_config`,
			[]string{"--- a/etc/ssh/sshd_config\n", "-Port 22\n", "+Port 2201\n"}},
		{"sed -i", "sim-a", "/etc/sysctl.conf", `sed -i 's/vm.swappiness = 10/vm.swappiness = 60/' /etc/sysctl.conf`,
			[]string{"-vm.swappiness = 10\n", "+vm.swappiness = 60\n"}},
		{"truncate and write", "sim-a", "/etc/sudoers",
			`truncate -s 0 /etc/sudoers && sleep 0.1 && printf 'Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\nops\tALL=(ALL) NOPASSWD: ALL\n' >> /etc/sudoers`,
			[]string{"+ops\tALL=(ALL) NOPASSWD: ALL\n", "-%sudo\tALL=(ALL:ALL) ALL\n"}},
		{"cp over", "sim-b", "/etc/passwd", `cp /etc/passwd /tmp/passwd && echo 'mallory:x:0:0::/root:/bin/sh' >> /tmp/passwd && cp /tmp/passwd /etc/passwd`,
			[]string{"+mallory:x:0:0::/root:/bin/sh\n"}},
		{"chmod only", "sim-b", "/etc/sudoers", `chmod 0666 /etc/sudoers`, []string{"mode 0440 -> 0666\n"}},
		{"chown only", "sim-b", "/etc/sysctl.conf", `chown 1000:1000 /etc/sysctl.conf`, []string{"owner 0:0 -> 1000:1000\n"}},
		{"remove and recreate", "sim-c", "/etc/sysctl.conf",
			`rm /etc/sysctl.conf && sleep 0.1 && printf 'net.ipv4.ip_forward = 1\n' > /etc/sysctl.conf`,
			[]string{"+net.ipv4.ip_forward = 1\n", "-vm.swappiness = 10\n"}},
		{"directory replaced", "sim-c", "/etc/ssh/sshd_config",
			`mkdir /etc/ssh.new && sed 's/PermitRootLogin prohibit-password/PermitRootLogin yes/' /etc/ssh/sshd_config > /etc/ssh.new/sshd_config && chmod 600 /etc/ssh.new/sshd_config && rm -rf /etc/ssh && mv /etc/ssh.new /etc/ssh`,
			[]string{"-PermitRootLogin prohibit-password\n", "+PermitRootLogin yes\n"}},
		{"write in place to a bind-mounted file", "sim-c", "/etc/hosts", `echo '10.9.9.9 evil.example' >> /etc/hosts`,
			[]string{"+10.9.9.9 evil.example\n"}},
	}
	mark := s.lastID(topic.Observations)
	for _, sv := range saves {
		nodes[sv.ci].sh(sv.script)
	}
	field := func(path string) string { return agent.Pointer(path) }
	proctest.WaitUntil(t, 30*time.Second, "a drift for every save", func() bool { return len(s.detected()) >= len(saves) })
	for _, n := range nodes {
		n.settled()
	}
	drifts := s.detected()
	if len(drifts) != len(saves) {
		var got []string
		for _, d := range drifts {
			got = append(got, d.CIID+" "+d.Field)
		}
		t.Fatalf("%d drifts, want one per save (%d): %v", len(drifts), len(saves), got)
	}
	for _, sv := range saves {
		i := slices.IndexFunc(drifts, func(d event.DriftDetected_v1) bool { return d.CIID == sv.ci && d.Field == field(sv.path) })
		if i < 0 {
			t.Errorf("%s: no drift of %s on %s", sv.style, sv.ci, sv.path)
			continue
		}
		d := drifts[i]
		for _, w := range sv.want {
			if !strings.Contains(d.Detail, w) {
				t.Errorf("%s: the drift's detail lacks %q:\n%s", sv.style, w, d.Detail)
			}
		}
		if strings.Contains(d.Detail, "removed") || d.Severity != "high" || d.PolicyID != "node-files" {
			t.Errorf("%s: drift %+v", sv.style, d)
		}
		var scoped int
		for _, o := range s.observations(sv.ci, mark) {
			if slices.Equal(o.Scope, []string{field(sv.path)}) {
				scoped++
			}
		}
		if scoped != 1 {
			t.Errorf("%s: %d observations for one save", sv.style, scoped)
		}
	}
}

func TestOverflowWhileTheAgentIsStoppedEndsWithTheDiskState(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	paths := []string{"/etc/app/churn.conf", "/etc/app/flap.conf"}
	n := startNode(t, s, "sim-o", agentConfig(s, "sim-o", paths, ""))
	n.sh("mkdir -p /etc/app && echo 0 > /etc/app/churn.conf && echo 0 > /etc/app/flap.conf")
	proctest.WaitUntil(t, 10*time.Second, "the app files are reported", func() bool {
		c, _ := s.ci("sim-o")
		return filesOf(t, c.State)["/etc/app/flap.conf"].Kind == capture.KindText && filesOf(t, c.State)["/etc/app/churn.conf"].Kind == capture.KindText
	})
	n.settled()
	docker(t, "kill", "--signal", "STOP", n.name)
	// 6,000 rounds of a write, a removal and a re-creation: 18,000 changes, far more events
	// than the kernel queues (16,384 by default). flap.conf is gone for a moment each round.
	n.sh(`i=0; while [ $i -lt 6000 ]; do echo $i > /etc/app/churn.conf; rm /etc/app/flap.conf; echo $i > /etc/app/flap.conf; i=$((i+1)); done
		echo final > /etc/app/churn.conf; sed -i 's/vm.swappiness = 10/vm.swappiness = 30/' /etc/sysctl.conf; chmod 600 /etc/app/flap.conf`)
	mark := s.lastID(topic.Observations)
	docker(t, "kill", "--signal", "CONT", n.name)
	proctest.WaitUntil(t, 30*time.Second, "an overflow snapshot", func() bool {
		h := n.health()
		by, _ := h["snapshots_by_reason"].(map[string]any)
		return by[watchGapOverflow] != nil
	})
	n.settled()
	disk := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(n.sh("sha256sum /etc/app/churn.conf /etc/app/flap.conf /etc/sysctl.conf /etc/passwd")), "\n") {
		f := strings.Fields(line)
		disk[f[1]] = f[0]
	}
	proctest.WaitUntil(t, 10*time.Second, "driftwatch shows the disk's state", func() bool {
		c, _ := s.ci("sim-o")
		files := filesOf(t, c.State)
		for p, sum := range disk {
			if files[p].SHA256 != sum {
				return false
			}
		}
		return files["/etc/app/flap.conf"].Mode == "0600"
	})
	obs := s.observations("sim-o", mark)
	if len(obs) == 0 || len(obs) > 10 {
		t.Fatalf("%d observations after the overflow, want a snapshot and few others", len(obs))
	}
	for _, o := range obs {
		for p, f := range filesOf(t, o.State) {
			if f.Kind == capture.KindAbsent && p != "/etc/app/nothing" && disk[p] != "" {
				t.Errorf("observation %s reports %s deleted; it is on disk", o.ID, p)
			}
		}
	}
	c, _ := s.ci("sim-o")
	for p, f := range filesOf(t, c.State) {
		if f.Kind == capture.KindAbsent {
			t.Errorf("%s is reported absent", p)
		}
	}
}

// watchGapOverflow is the health's name of an overflow snapshot.
const watchGapOverflow = "inotify_queue_overflow"

func TestAChangeWhileTheAgentIsDownIsReportedAtStart(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	n := startNode(t, s, "sim-d", agentConfig(s, "sim-d", nil, ""))
	n.settled()
	docker(t, "stop", "-t", "20", n.name)
	changed := filepath.Join(t.TempDir(), "sysctl.conf")
	content := "# Kernel parameters of a sim node\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 1\nkernel.kptr_restrict = 2\nvm.swappiness = 10\n"
	if err := os.WriteFile(changed, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := s.lastID(topic.Observations)
	docker(t, "cp", changed, n.name+":/etc/sysctl.conf")
	docker(t, "start", n.name)
	var snap event.ObservationSubmitted_v1
	proctest.WaitUntil(t, 30*time.Second, "the start-up snapshot", func() bool {
		for _, o := range s.observations("sim-d", mark) {
			if len(o.Scope) == 0 {
				snap = o
				return true
			}
		}
		return false
	})
	d := snap.Details[agent.Pointer("/etc/sysctl.conf")]
	if !strings.Contains(d, "-net.ipv4.ip_forward = 0\n") || !strings.Contains(d, "+net.ipv4.ip_forward = 1\n") {
		t.Fatalf("the start-up snapshot does not carry the diff of the change made while down: %q (details %v)", d, snap.Details)
	}
	proctest.WaitUntil(t, 10*time.Second, "the downtime snapshot in health", func() bool {
		by, _ := n.health()["snapshots_by_reason"].(map[string]any)
		return by["downtime"] == 1.0
	})
	if got := fmt.Sprint(len(snap.Details)); got != "1" {
		t.Fatalf("details for %s paths, want only the changed one: %v", got, snap.Details)
	}
}
