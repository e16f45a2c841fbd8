package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/redistest"
	"github.com/driftwatch/driftwatch/pipeline/testenv"
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

var (
	binDir  string
	builds  sync.Map // name -> *build
	cleanup []func()
	cleanMu sync.Mutex
)

// build is one artefact built at most once per test binary.
type build struct {
	once sync.Once
	out  string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "driftwatch-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	cleanMu.Lock()
	for _, fn := range cleanup {
		fn()
	}
	cleanMu.Unlock()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// once builds name with fn the first time it is asked for, and returns fn's result.
func once(t testing.TB, name string, fn func() (string, error)) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	b.once.Do(func() { b.out, b.err = fn() })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.out
}

// goBuild builds a static binary of the package in dir (relative to this one).
func goBuild(t testing.TB, name, dir string) string {
	return once(t, "bin:"+name, func() (string, error) {
		out := filepath.Join(binDir, name)
		cmd := exec.Command("go", "build", "-o", out, dir)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", dir, err, b)
		}
		return out, nil
	})
}

func agentBinary(t testing.TB) string  { return goBuild(t, "driftwatch-agent", ".") }
func serverBinary(t testing.TB) string { return goBuild(t, "driftwatch", "../driftwatch") }

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

// simnodeImage builds the sim node image once (deploy/simnode/build.sh) and removes it when
// the test binary ends.
func simnodeImage(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	return once(t, "image", func() (string, error) {
		tag := "driftwatch-simnode:test-" + run
		cmd := exec.Command("../../deploy/simnode/build.sh", tag, "--label", testLabel)
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build the sim node image: %v\n%s", err, b)
		}
		atExit(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
		return tag, nil
	})
}

func atExit(fn func()) {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	cleanup = append(cleanup, fn)
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stack is a redis-server and a `driftwatch serve` over it that requires signed observations
// and enrols agents with enrolToken.
type stack struct {
	t       *testing.T
	redis   *redistest.Server
	url     string
	dataDir string
	cmd     *exec.Cmd
	logs    *lockedBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startStack starts Redis and the server and waits until /healthz answers.
func startStack(t *testing.T) *stack {
	t.Helper()
	r := redistest.Start(t)
	bin := serverBinary(t)
	addr := freeAddr(t)
	s := &stack{t: t, redis: r, url: "http://" + addr, dataDir: t.TempDir(), logs: &lockedBuffer{}}
	s.cmd = exec.Command(bin, "serve", "--data-dir", s.dataDir, "--redis", r.URL(), "--http", addr, "--log-level", "debug")
	s.cmd.Env = append(os.Environ(), "DRIFTWATCH_ENROL_TOKEN="+enrolToken, "DRIFTWATCH_REQUIRE_SIGNED=1")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("driftwatch logs:\n%s", tail(s.logs.String(), 40))
		}
	})
	waitUntil(t, 30*time.Second, "driftwatch answers /healthz", func() bool {
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// stop ends the server with SIGTERM, if it still runs.
func (s *stack) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// do sends a JSON request (with the enrolment token when auth is set) and decodes the answer.
func (s *stack) do(method, path string, body, out any) int {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// raw answers a GET with its body as it came.
func (s *stack) raw(path string) string {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
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
	waitUntil(n.t, 30*time.Second, n.ci+" reports its state", func() bool { _, ok := s.ci(n.ci); return ok })
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

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
