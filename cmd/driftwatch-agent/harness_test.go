package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// testLabel marks every container and image the tests make, so that a crashed run's leftovers
// can be found: docker ps -a --filter label=io.driftwatch.test=driftwatch-agent.
const testLabel = "io.driftwatch.test=driftwatch-agent"

// enrolToken is the operator's enrolment token of the test servers.
const enrolToken = "test-enrol-token-0123456789"

// run is this test binary's id: it names images and containers.
var run = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

func TestMain(m *testing.M) {
	code := m.Run()
	if simnodeTag != "" {
		_ = exec.Command("docker", "rmi", "-f", simnodeTag).Run()
	}
	proctest.RemoveBuilds()
	os.Exit(code)
}

// agentBinary builds cmd/driftwatch-agent once per test run, static and without the race
// detector: the benchmark measures its footprint.
func agentBinary(t testing.TB) string {
	t.Helper()
	return proctest.BuildStatic(t, "driftwatch-agent", ".")
}

// serverBinary builds cmd/driftwatch once per test run, static as the agent.
func serverBinary(t testing.TB) string {
	t.Helper()
	return proctest.BuildStatic(t, "driftwatch", "../driftwatch")
}

// requireDocker skips (or fails under DRIFTWATCH_REQUIRE_ALL=1) without a Docker engine or the
// static busybox the sim node image needs.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Missing(t, "docker not found on PATH: the sim-node tests need a Docker engine")
		return
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		testenv.Missing(t, "the Docker engine does not answer (%v): %s", err, bytes.TrimSpace(out))
		return
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testenv.Missing(t, "/bin/busybox not found: apt-get install busybox-static")
	}
}

// simnodeTag is the sim node image's tag once it is built; TestMain removes the image.
var simnodeTag string

// buildSimnode builds the sim node image (deploy/simnode/build.sh), once per test binary.
var buildSimnode = sync.OnceValues(func() (string, error) {
	tag := "driftwatch-simnode:test-" + run
	cmd := exec.Command("../../deploy/simnode/build.sh", tag, "--label", testLabel)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the sim node image: %v\n%s", err, b)
	}
	simnodeTag = tag
	return tag, nil
})

// simnodeImage builds the sim node image once and removes it when the test binary ends.
func simnodeImage(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	tag, err := buildSimnode()
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// stack is a redis-server and a `driftwatch serve` over it that requires signed observations
// and enrols agents with enrolToken.
type stack struct {
	*proctest.Process
	t       *testing.T
	redis   *redistest.Server
	url     string
	dataDir string
}

// startStack starts Redis and the server and waits until /healthz answers.
func startStack(t *testing.T) *stack {
	t.Helper()
	r := redistest.Start(t)
	bin := serverBinary(t)
	addr := proctest.FreeAddr(t)
	s := &stack{t: t, redis: r, url: "http://" + addr, dataDir: t.TempDir()}
	// The tests read the observations stream's history: it is not trimmed here.
	cmd := exec.Command(bin, "serve", "--data-dir", s.dataDir, "--redis", r.URL(), "--http", addr, "--log-level", "debug", "--redis-trim-interval", "-1s")
	cmd.Env = append(os.Environ(), "DRIFTWATCH_ENROL_TOKEN="+enrolToken, "DRIFTWATCH_REQUIRE_SIGNED=1", "DRIFTWATCH_ADMIN_TOKEN="+adminToken)
	s.Process = proctest.Start(t, "driftwatch", cmd, proctest.WithTail(40))
	proctest.WaitUntil(t, 30*time.Second, "driftwatch answers /healthz", func() bool {
		return proctest.GetOK(s.url + "/healthz")
	})
	return s
}

// adminToken is the test server's bootstrap admin token (DRIFTWATCH_ADMIN_TOKEN).
const adminToken = "dwt_test-admin-0123456789abcdefghijklmnop"

// do sends a JSON request and decodes the answer.
func (s *stack) do(method, path string, body, out any) int {
	s.t.Helper()
	return proctest.DoJSONAs(s.t, adminToken, method, s.url+path, body, out)
}

// raw answers a GET with its body as it came.
func (s *stack) raw(path string) string {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// ciState is GET /drift/cis/{id}.
type ciState struct {
	CIID      string          `json:"ci_id"`
	State     json.RawMessage `json:"state"`
	StateHash string          `json:"state_hash"`
	Open      int             `json:"open_drifts"`
}

// ci returns the CI's read model, and whether it exists.
func (s *stack) ci(id string) (ciState, bool) {
	s.t.Helper()
	var c ciState
	code := s.do(http.MethodGet, "/drift/cis/"+id, nil, &c)
	return c, code == http.StatusOK
}

// node is a running sim node container.
type node struct {
	t    *testing.T
	name string
	ci   string
}

// agentConfig is the config a sim node's agent runs with: SPEC-080's paths plus extra ones.
func agentConfig(s *stack, ci string, extraPaths []string, extra string) string {
	paths := append([]string{"/etc/ssh/sshd_config", "/etc/hosts", "/etc/resolv.conf", "/etc/sysctl.conf", "/etc/sudoers", "/etc/passwd", "/etc/shadow"}, extraPaths...)
	return fmt.Sprintf("ci_id: %s\npaths: [%s]\nsnapshot_interval: 1h\nserver:\n  redis_url: %s\n  http_url: %s\n%s",
		ci, strings.Join(paths, ", "), s.redis.URL(), s.url, extra)
}

// createNode creates (without starting) a sim node container running the agent with config.
func createNode(t *testing.T, ci, config string) *node {
	t.Helper()
	image := simnodeImage(t)
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "agent.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: "dw-agent-" + run + "-" + ci, ci: ci}
	docker(t, "create", "--name", n.name, "--label", testLabel, "--network", "host",
		"-v", cfgDir+":/etc/driftwatch-agent:ro", "-e", "DRIFTWATCH_ENROL_TOKEN="+enrolToken, image, "run", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "40", n.name).CombinedOutput()
			t.Logf("logs of %s:\n%s", n.name, out)
		}
		_ = exec.Command("docker", "rm", "-f", "-v", n.name).Run()
	})
	return n
}

// startNode creates and starts a sim node and waits until driftwatch has its first snapshot.
func startNode(t *testing.T, s *stack, ci, config string) *node {
	t.Helper()
	n := createNode(t, ci, config)
	n.start(s)
	return n
}

// start starts the container and waits for the CI's first state at driftwatch.
func (n *node) start(s *stack) {
	n.t.Helper()
	docker(n.t, "start", n.name)
	proctest.WaitUntil(n.t, 30*time.Second, n.ci+" reports its state", func() bool { _, ok := s.ci(n.ci); return ok })
}

// sh runs a script in the node.
func (n *node) sh(script string) string {
	n.t.Helper()
	return docker(n.t, "exec", n.name, "sh", "-c", script)
}

// health reads the agent's health file.
func (n *node) health() map[string]any {
	n.t.Helper()
	var h map[string]any
	out, err := exec.Command("docker", "exec", n.name, "cat", "/var/lib/driftwatch-agent/health.json").Output()
	if err != nil || json.Unmarshal(out, &h) != nil {
		return nil
	}
	return h
}

// docker runs the docker CLI and returns its output, failing the test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
