// Package redistest runs a private redis-server for a test: its own process on a free
// 127.0.0.1 port, its own data directory under t.TempDir(), stopped when the test ends. Tests
// that use it skip (or fail under DRIFTWATCH_REQUIRE_ALL=1) on a machine without redis-server.
package redistest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// startTimeout bounds how long Start and Restart wait for the server to answer PING.
const startTimeout = 10 * time.Second

// portAttempts is how many free ports Start tries before giving up: another process may take
// the port between the probe and redis-server's bind.
const portAttempts = 5

// Option changes how Start runs the server.
type Option func(*Server)

// WithAOF turns on the append-only file (appendfsync everysec), so data survives Restart.
// Without it the server keeps nothing on disk.
func WithAOF() Option { return func(s *Server) { s.aof = true } }

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// Dir is the server's working directory, a t.TempDir().
	Dir string

	t    testing.TB
	bin  string
	port int
	aof  bool

	mu   sync.Mutex
	proc *process
}

// Start runs a fresh redis-server and registers its shutdown with t.Cleanup. It fails the test
// if the server does not answer PING within 10 seconds.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server not found on PATH: apt-get install redis-server")
		return nil
	}
	s := &Server{t: t, bin: bin, Dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(s.Stop)
	var lastErr error
	for range portAttempts {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("pick a free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if lastErr = s.launch(); lastErr == nil {
			return s
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// URL returns the server's redis:// URL for database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client for database 0, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 seconds). It is idempotent; the
// cleanup registered by Start calls it.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// Restart stops the server and starts it again on the same port and directory. Data survives
// only under WithAOF. Clients reconnect on their own.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		s.t.Fatalf("restart redis-server: %v", err)
	}
}

// launch starts the process on s.port and waits for PING.
func (s *Server) launch() error {
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.Dir,
		"--save", "", "--daemonize", "no", "--logfile", "",
	}
	if s.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	p, err := spawn(s.bin, args)
	if err != nil {
		return err
	}
	if err := p.waitReady(s.Addr, startTimeout); err != nil {
		p.stop()
		return fmt.Errorf("%w; server output:\n%s", err, p.output())
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// freePort asks the kernel for a free port by listening on port 0 and closing at once.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
