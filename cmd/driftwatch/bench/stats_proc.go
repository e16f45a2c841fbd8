package bench

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc names a process whose CPU time and resident memory a trial reports.
type Proc struct {
	// PID is the process id.
	PID int
	// Label names the process in reports ("bench", "redis-server").
	Label string
}

// Self is the calling process, labelled "bench": in a benchmark run it holds the load
// generator and the system under test.
func Self() Proc { return Proc{PID: os.Getpid(), Label: "bench"} }

// ProcStat is one reading of a process's counters.
type ProcStat struct {
	// CPU is the user plus system CPU time used since the process started.
	CPU time.Duration
	// RSS is the resident set size in bytes.
	RSS uint64
}

// clockTicks is the kernel's clock tick rate (USER_HZ) that /proc/<pid>/stat counts in:
// `getconf CLK_TCK`, or 100 when getconf is missing or says nothing usable.
var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
})

// ReadProc reads pid's CPU time (utime+stime of /proc/<pid>/stat) and VmRSS (of
// /proc/<pid>/status). It works on Linux only.
func ReadProc(pid int) (ProcStat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(raw, clockTicks())
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse stat of process %d: %w", pid, err)
	}
	raw, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStat{}, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	rss, err := parseStatusRSS(raw)
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse status of process %d: %w", pid, err)
	}
	return ProcStat{CPU: cpu, RSS: rss}, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) of a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(raw []byte, ticks int64) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(raw[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration((utime + stime) * int64(time.Second) / ticks), nil
}

// parseStatusRSS returns VmRSS of a /proc/<pid>/status file in bytes.
func parseStatusRSS(raw []byte) (uint64, error) {
	for line := range strings.SplitSeq(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line")
}

// ProcUsage is what one process used over a trial's measured window.
type ProcUsage struct {
	Proc
	// CPU is the CPU time used inside the window, interpolated between samples.
	CPU time.Duration
	// Cores is CPU divided by the window's wall time: 1.0 is one core fully busy.
	Cores float64
	// PeakRSS is the largest resident set sampled during the window, in bytes.
	PeakRSS uint64
	// Err is the first sampling failure (the process exited, not Linux); the other fields are
	// then partial or zero.
	Err error
}

// procSample is one timestamped reading of every watched process.
type procSample struct {
	at    time.Time
	stats []ProcStat
	errs  []error
}

// ProcWatch samples the CPU time and RSS of a set of processes at a fixed interval, so that
// usage can be cut to any window afterwards. Memory grows by one small sample per interval.
type ProcWatch struct {
	procs   []Proc
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []procSample
}

// WatchProcs starts sampling procs every interval (default 200ms when interval ≤ 0), with a
// first sample at once. Call Stop to end it.
func WatchProcs(procs []Proc, interval time.Duration) *ProcWatch {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	w := &ProcWatch{procs: procs, stop: make(chan struct{}), done: make(chan struct{})}
	w.sample()
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				w.sample()
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
	return w
}

// sample reads every process once.
func (w *ProcWatch) sample() {
	s := procSample{at: time.Now(), stats: make([]ProcStat, len(w.procs)), errs: make([]error, len(w.procs))}
	for i, p := range w.procs {
		s.stats[i], s.errs[i] = ReadProc(p.PID)
	}
	w.mu.Lock()
	w.samples = append(w.samples, s)
	w.mu.Unlock()
}

// Stop takes a last sample and ends sampling. It is idempotent.
func (w *ProcWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// Usage returns each process's usage over [from, to], interpolating cumulative CPU time
// linearly between the samples around each end. Call it after Stop for a window that reaches
// the end of sampling.
func (w *ProcWatch) Usage(from, to time.Time) []ProcUsage {
	w.mu.Lock()
	samples := w.samples
	w.mu.Unlock()
	wall := to.Sub(from).Seconds()
	out := make([]ProcUsage, len(w.procs))
	for i, p := range w.procs {
		u := ProcUsage{Proc: p}
		var at []time.Time
		var cpu []time.Duration
		for _, s := range samples {
			if s.errs[i] != nil {
				u.Err = cmp.Or(u.Err, s.errs[i])
				continue
			}
			at, cpu = append(at, s.at), append(cpu, s.stats[i].CPU)
			if !s.at.Before(from) && !s.at.After(to) {
				u.PeakRSS = max(u.PeakRSS, s.stats[i].RSS)
			}
		}
		if len(at) >= 2 {
			u.CPU = interpolate(at, cpu, to) - interpolate(at, cpu, from)
			if wall > 0 {
				u.Cores = u.CPU.Seconds() / wall
			}
		}
		out[i] = u
	}
	return out
}

// interpolate returns the cumulative value at t from samples (at[i], v[i]) sorted by time,
// clamped to the first and last sample.
func interpolate(at []time.Time, v []time.Duration, t time.Time) time.Duration {
	if !t.After(at[0]) {
		return v[0]
	}
	for i := 1; i < len(at); i++ {
		if t.After(at[i]) {
			continue
		}
		span := at[i].Sub(at[i-1])
		if span <= 0 {
			return v[i]
		}
		frac := float64(t.Sub(at[i-1])) / float64(span)
		return v[i-1] + time.Duration(frac*float64(v[i]-v[i-1]))
	}
	return v[len(v)-1]
}

// TotalCPU sums the CPU time of every process in usage.
func TotalCPU(usage []ProcUsage) time.Duration {
	var sum time.Duration
	for _, u := range usage {
		sum += u.CPU
	}
	return sum
}
