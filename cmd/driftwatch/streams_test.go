package main_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// startShellAgent runs SPEC-080's drift-agent.sh (inotifywait | redis-cli XADD) for ci
// against redis, watching paths, until the test ends.
func startShellAgent(t *testing.T, redisAddr, ci string, paths ...string) {
	t.Helper()
	for _, c := range []string{"bash", "inotifywait", "redis-cli"} {
		if _, err := exec.LookPath(c); err != nil {
			testenv.Missing(t, "%s is not in PATH: apt-get install inotify-tools redis-tools", c)
		}
	}
	host, port, _ := strings.Cut(redisAddr, ":")
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "..", "deploy", "ansible", "drift-agent.sh")}, paths...)...)
	cmd.Env = append(os.Environ(), "REDIS_HOST="+host, "REDIS_PORT="+port, "HOSTNAME="+ci)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Watches established") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("inotifywait established no watches within 10s")
	}
}

// TestSPEC080InputStreamsAreSources feeds each of SPEC-080's input streams to a server over
// Redis: the real shell agent's "this file changed" entry opens a drift (content unverified)
// that the next full observation settles; vm.power_changed and network.changed entries open
// state and network drifts; an ansible.facts_collected entry observes the host's packages; an
// entry that cannot be read is parked in the poison stream with its reason.
func TestSPEC080InputStreamsAreSources(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL())
	dir := t.TempDir()
	watched := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(watched, []byte("Port 22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := map[string]any{"kind": "text", "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "mode": "0600", "uid": 0, "gid": 0, "size": 8}
	s.put(http.MethodPut, "/templates/nodes", map[string]any{"template_id": "nodes", "resource_type": "node",
		"template_definition": map[string]any{"files": map[string]any{watched: file}}})
	s.put(http.MethodPut, "/templates/vms", map[string]any{"template_id": "vms", "resource_type": "vm",
		"template_definition": map[string]any{"power_state": "on", "networks": []string{"lan"}}})
	full := func(id string) map[string]any {
		return map[string]any{"id": id, "ci_id": "node-07", "ci_type": "node", "state": map[string]any{"files": map[string]any{watched: file}}}
	}
	s.observe(full("full-1"))
	s.observe(map[string]any{"id": "vm-full-1", "ci_id": "vm-07", "ci_type": "vm", "state": map[string]any{"power_state": "on", "networks": []string{"lan"}}})
	s.waitForDrifts("node-07", "open", 0)

	// The shell agent says the file changed.
	startShellAgent(t, redis.Addr, "node-07", watched)
	if err := os.WriteFile(watched, []byte("Port 2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := s.waitForDrifts("node-07", "open", 1)
	if d := l.Items[0]; !strings.HasPrefix(d.Field, "/files/") || !strings.Contains(string(d.Actual), "unverified") {
		t.Fatalf("drift %+v, want the file's content unverified", d)
	}
	// A full observation finds the file as it should be: the drift resolves.
	time.Sleep(10 * time.Millisecond)
	s.observe(full("full-2"))
	defer func() {
		if t.Failed() {
			var ci, h any
			s.do(http.MethodGet, "/drift/cis/node-07", nil, &ci)
			s.do(http.MethodGet, "/drift/cis/node-07/history", nil, &h)
			t.Logf("ci %v\nhistory %v", ci, h)
		}
	}()
	proctest.WaitUntil(t, 3*time.Second, "the full observation settles the file", func() bool {
		return s.drifts("?ci=node-07&status=resolved").Total == 1 && s.drifts("?ci=node-07&status=open").Total == 0
	})

	ctx := context.Background()
	add := func(stream string, values map[string]any) {
		if err := redis.Client().XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	add("vm.power_changed", map[string]any{"ci_id": "vm-07", "power_state": "off"})
	add("network.changed", map[string]any{"payload": `{"ci_id":"vm-07","networks":["lan","rogue"]}`})
	proctest.WaitUntil(t, 3*time.Second, "power and network drifts on vm-07", func() bool {
		fields := map[string]bool{}
		for _, d := range s.drifts("?ci=vm-07&status=open").Items {
			fields[d.Field] = true
		}
		return fields["/power_state"] && fields["/networks"]
	})

	add("ansible.facts_collected", map[string]any{"payload": `{"host":"facts-07","ansible_facts":{"hostname":"facts-07",
		"packages":{"openssh-server":[{"name":"openssh-server","version":"1:9.2p1-2","arch":"amd64","source":"apt"}]}}}`})
	proctest.WaitUntil(t, 3*time.Second, "facts-07 is observed", func() bool {
		return s.do(http.MethodGet, "/drift/cis/facts-07", nil, nil) == http.StatusOK
	})

	add("vm.power_changed", map[string]any{"power_state": "off"})
	proctest.WaitUntil(t, 3*time.Second, "the entry without ci_id is parked with its reason", func() bool {
		entries, err := redis.Client().XRange(ctx, "driftwatch.poison.v1", "-", "+").Result()
		if err != nil {
			return false
		}
		for _, e := range entries {
			if raw, _ := e.Values["event"].(string); strings.Contains(raw, "ci_id: required") {
				return true
			}
		}
		return false
	})
}
