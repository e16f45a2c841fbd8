package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// startRedis runs a private redis-server for one test with StartRedis, stopped at cleanup.
func startRedis(t *testing.T) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Missing(t, "redis-server not found on PATH: apt-get install redis-server")
	}
	r, err := StartRedis(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func TestStartRedis(t *testing.T) {
	t.Parallel()

	t.Run("runs_a_private_server_that_answers_and_stops", func(t *testing.T) {
		t.Parallel()
		r := startRedis(t)
		opt, err := redis.ParseURL(r.URL())
		if err != nil {
			t.Fatal(err)
		}
		if opt.Addr != r.Addr() {
			t.Errorf("url %s names %s, want %s", r.URL(), opt.Addr, r.Addr())
		}
		if host, _, _ := net.SplitHostPort(r.Addr()); host != "127.0.0.1" {
			t.Errorf("server on %s, want loopback", r.Addr())
		}
		c := redis.NewClient(opt)
		defer c.Close()
		ctx := t.Context()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		cfg, err := c.ConfigGet(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"save": "", "appendonly": "no", "protected-mode": "yes", "bind": "127.0.0.1"} {
			if cfg[k] != want {
				t.Errorf("config %s = %q, want %q", k, cfg[k], want)
			}
		}
		if _, err := ReadProc(r.PID()); err != nil {
			t.Errorf("cannot sample the server's process: %v", err)
		}
		if r.Proc().PID != r.PID() || r.Proc().Label != "redis-server" {
			t.Errorf("proc %+v", r.Proc())
		}
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := r.Stop(); err != nil {
			t.Errorf("second stop: %v", err)
		}
		if conn, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
			conn.Close()
			t.Error("server still accepts connections after Stop")
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", r.PID())); err == nil {
			t.Error("server process still exists after Stop")
		}
	})

	t.Run("refuses_a_data_directory_that_is_missing_or_a_file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		file := filepath.Join(dir, "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"", filepath.Join(dir, "missing"), file} {
			if r, err := StartRedis(context.Background(), d); err == nil {
				_ = r.Stop()
				t.Errorf("started with data directory %q", d)
			}
		}
	})
}
