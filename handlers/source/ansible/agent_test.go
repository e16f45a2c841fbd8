package ansible_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

var agentScript = filepath.Join("..", "..", "..", "deploy", "ansible", "drift-agent.sh")

func needAgentTools(t *testing.T) {
	t.Helper()
	for _, c := range []string{"bash", "inotifywait", "redis-cli"} {
		if _, err := exec.LookPath(c); err != nil {
			testenv.Missing(t, "%s is not in PATH: apt-get install inotify-tools redis-tools", c)
		}
	}
}

// startAgent runs drift-agent.sh in its own process group against redis at addr, and waits
// until inotifywait reports its watches; the group is killed when the test ends.
func startAgent(t *testing.T, addr string, paths ...string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("bash", append([]string{agentScript}, paths...)...)
	cmd.Env = append(os.Environ(), "REDIS_HOST="+host, "REDIS_PORT="+port, "HOSTNAME=node-test")
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
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Watches established") {
				ready <- nil
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- errors.New("drift-agent.sh ended before inotifywait established its watches")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("inotifywait established no watches within 10s")
	}
}

func TestDriftAgentPublishesFileChanges(t *testing.T) {
	t.Parallel()
	needAgentTools(t)
	srv := redistest.Start(t)
	dir := t.TempDir()
	startAgent(t, srv.Addr, dir)

	path := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(path, []byte("PermitRootLogin no\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := srv.Client()
	last := "0"
	for {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{"drift.file_changed", last}, Block: 5 * time.Second}).Result()
		if err != nil {
			t.Fatalf("no entry for %s on drift.file_changed: %v", path, err)
		}
		for _, m := range res[0].Messages {
			last = m.ID
			if len(m.Values) != 2 || m.Values["ci_id"] != "node-test" {
				t.Fatalf("entry %v, want the fields payload and ci_id=node-test", m.Values)
			}
			var payload struct {
				Path  string `json:"path"`
				Event string `json:"event"`
			}
			raw, _ := m.Values["payload"].(string)
			if err := json.Unmarshal([]byte(raw), &payload); err != nil {
				t.Fatalf("payload %q is not JSON: %v", raw, err)
			}
			if payload.Path != path {
				t.Fatalf("payload %s names another path than %s", raw, path)
			}
			if strings.Contains(payload.Event, "CLOSE_WRITE") {
				return
			}
		}
	}
}

func TestDriftAgentFailsOnAMissingPath(t *testing.T) {
	t.Parallel()
	needAgentTools(t)
	missing := filepath.Join(t.TempDir(), "nope")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", agentScript, missing)
	cmd.Env = append(os.Environ(), "REDIS_HOST=127.0.0.1", "REDIS_PORT="+strconv.Itoa(1))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("drift-agent.sh %s: %v, want a failure\n%s", missing, err, out)
	}
}
