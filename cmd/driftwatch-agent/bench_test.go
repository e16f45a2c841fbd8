package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat on Linux.
const clockTicks = 100

// BenchmarkAgentWatching1000Files runs the static agent binary on 1,000 files in 20
// directories, reporting to a real Redis, and measures its resident memory once the start-up
// snapshot is sent, and its CPU while nothing changes (idle_window, default 10s). One
// iteration is one agent: run with -benchtime=1x.
func BenchmarkAgentWatching1000Files(b *testing.B) {
	window := 10 * time.Second
	if v := os.Getenv("IDLE_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	srv := redistest.Start(b)
	for range b.N {
		dir := b.TempDir()
		var paths []string
		for i := range 1000 {
			p := filepath.Join(dir, "etc", fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.conf", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(fmt.Sprintf("# file %d\nkey = value\npassword = p%d\n", i, i)), 0o644); err != nil {
				b.Fatal(err)
			}
			paths = append(paths, p)
		}
		cfg := filepath.Join(dir, "agent.yaml")
		content := fmt.Sprintf("ci_id: bench\npaths: [%s]\nstate_dir: %s\nsnapshot_interval: 1h\nserver:\n  redis_url: %s\n",
			strings.Join(paths, ", "), filepath.Join(dir, "state"), srv.URL())
		if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		client := srv.Client()
		before, _ := client.XLen(b.Context(), "driftwatch.observations.v1").Result()
		cmd := exec.Command(agentBinary(b), "run", "--config", cfg, "--log-level", "warn")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop := func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
		deadline := time.Now().Add(30 * time.Second)
		for n := before; n == before; n, _ = client.XLen(b.Context(), "driftwatch.observations.v1").Result() {
			if time.Now().After(deadline) {
				stop()
				b.Fatal("the start-up snapshot never reached Redis")
			}
			time.Sleep(10 * time.Millisecond)
		}
		ready := time.Since(start)
		rssStart := rssKiB(b, cmd.Process.Pid)
		// After the snapshot is sent the agent keeps each text for later diffs; idle starts
		// when its CPU time stops moving.
		settle := time.Now().Add(30 * time.Second)
		for prev := -1; ; {
			cur := cpuTicks(b, cmd.Process.Pid)
			if cur == prev {
				break
			}
			if time.Now().After(settle) {
				stop()
				b.Fatal("the agent never went idle")
			}
			prev = cur
			time.Sleep(500 * time.Millisecond)
		}
		settled := time.Since(start)
		t0 := cpuTicks(b, cmd.Process.Pid)
		time.Sleep(window) // the measurement window: the agent is left alone
		t1 := cpuTicks(b, cmd.Process.Pid)
		rss := rssKiB(b, cmd.Process.Pid)
		stop()
		b.ReportMetric(float64(ready.Milliseconds()), "first_snapshot_ms")
		b.ReportMetric(float64(settled.Milliseconds()), "settled_ms")
		b.ReportMetric(float64(max(rss, rssStart))/1024, "rss_MiB")
		b.ReportMetric(float64(t1-t0)/clockTicks/window.Seconds()*100, "idle_cpu_%")
	}
}

// rssKiB reads VmRSS of a process.
func rssKiB(b *testing.B, pid int) int {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// cpuTicks reads utime + stime of a process, in clock ticks.
func cpuTicks(b *testing.B, pid int) int {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}
