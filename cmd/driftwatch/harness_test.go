package main_test

import (
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBuilds()
	os.Exit(code)
}

// driftwatchBinary builds cmd/driftwatch once per test run.
func driftwatchBinary(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, "driftwatch", ".")
}

// adminToken is the bootstrap admin token every test server gets (DRIFTWATCH_ADMIN_TOKEN).
const adminToken = "dwt_test-admin-0123456789abcdefghijklmnop"

// server is a running `driftwatch serve` process.
type server struct {
	*proctest.Process
	t   *testing.T
	url string
}

// startServer runs `driftwatch serve` on dataDir with extra flags and waits until /healthz
// answers.
func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, dataDir, nil, extra...)
}

// startServerEnv is startServer with env added to the process's environment.
func startServerEnv(t *testing.T, dataDir string, env []string, extra ...string) *server {
	t.Helper()
	addr := proctest.FreeAddr(t)
	args := append([]string{"serve", "--data-dir", dataDir, "--http", addr, "--log-level", "debug"}, extra...)
	s := &server{t: t, url: "http://" + addr}
	cmd := exec.Command(driftwatchBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "DRIFTWATCH_ADMIN_TOKEN="+adminToken), env...)
	s.Process = proctest.Start(t, "driftwatch", cmd, proctest.WithTail(60))
	proctest.WaitUntil(t, 20*time.Second, "driftwatch answers /healthz", func() bool {
		return proctest.GetOK(s.url + "/healthz")
	})
	return s
}

// runWorker runs `driftwatch worker <stage>` with args until the test ends; its cleanup
// logs the worker's output under name when the test failed.
func runWorker(t *testing.T, name, stage string, args ...string) *proctest.Process {
	t.Helper()
	return proctest.Start(t, name, exec.Command(driftwatchBinary(t), append([]string{"worker", stage}, args...)...))
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (s *server) do(method, path string, body any, out any) int {
	s.t.Helper()
	return proctest.DoJSONAs(s.t, adminToken, method, s.url+path, body, out)
}

// put sends a template or policy and fails the test unless it is accepted.
func (s *server) put(method, path string, body any) {
	s.t.Helper()
	if code := s.do(method, path, body, nil); code != http.StatusOK && code != http.StatusCreated {
		s.t.Fatalf("%s %s: %d", method, path, code)
	}
}
