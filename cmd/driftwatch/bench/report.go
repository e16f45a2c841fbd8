package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// machine describes the box: cores, memory, kernel, Go.
func machine() string {
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0]); len(f) >= 2 {
			mem = ", " + f[1] + " kB memory"
		}
	}
	kernel := ""
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(raw))
	}
	return fmt.Sprintf("%d CPUs%s%s, %s %s/%s", runtime.NumCPU(), mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Markdown writes the report as the table BENCHMARKS.md keeps, with the floors and aims of
// the performance issue.
func (r Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "driftwatch bench, %s; %s%s\n\n", r.Started.UTC().Format(time.RFC3339), r.Machine, map[bool]string{true: " (quick: a tiny load, figures mean little)"}[r.Quick])
	fmt.Fprintln(w, "| metric | driftwatch | stock chain | raw chain | floor | aim |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	ratio := func(m Measured) string {
		if r.Stock.Max.Rate == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.1fx stock)", m.Max.Rate/r.Stock.Max.Rate)
	}
	row := func(metric, dw, stock, raw, floor, aim string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", metric, dw, stock, raw, floor, aim)
	}
	rate := func(t Trial) string {
		if t.Rate == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f/s", t.Rate)
	}
	lat := func(t Trial) string {
		if t.Latency.Count == 0 && t.Latency.Missing == 0 {
			return "n/a"
		}
		return fmt.Sprintf("p50 %s, p99 %s, p99.9 %s", fmtLatency(t.Latency.P50), fmtLatency(t.Latency.P99), fmtLatency(t.Latency.P999))
	}
	row("max sustained over Redis (XADD), 1% deviating", rate(r.Redis.Max)+ratio(r.Redis), rate(r.Stock.Max), rate(r.Raw.Max), "5,000/s and 5x stock", "10,000/s and 10x")
	row("max sustained embedded (HTTP), 1% deviating", rate(r.Embedded.Max)+ratio(r.Embedded), "", "", "5,000/s", "10,000/s")
	row("max sustained embedded, 10% deviating", rate(r.Deviating10.Max), "", "", "2,000/s", "5,000/s")
	row("submit to readable drift at half the max rate, embedded", lat(r.Embedded.Half), lat(r.Stock.Half), lat(r.Raw.Half), "p99 50 ms", "p99 20 ms")
	row("submit to readable drift at half the max rate, over Redis", lat(r.Redis.Half), "", "", "p99 50 ms", "p99 20 ms")
	cpu := func(t Trial) string {
		if t.CPUPerItem == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%s per message", t.CPUPerItem.Round(time.Microsecond))
	}
	row("CPU per unchanged observation (driftwatch, bench and redis processes)", fmt.Sprintf("%s (embedded); %s at max over Redis, 1%% deviating", r.CPUUnchanged.Round(time.Microsecond), r.Redis.Max.CPUPerItem.Round(time.Microsecond)),
		cpu(r.Stock.Max), cpu(r.Raw.Max), "400 µs", "150 µs")
	for _, rc := range r.Reconcile {
		row(fmt.Sprintf("reconcile, %d CIs, 1%% drifted (first / again)", rc.CIs),
			fmt.Sprintf("%s / %s until idle; %d / %d sent on; %d / %d bytes added", rc.First.Idle.Round(time.Millisecond), rc.Second.Idle.Round(time.Millisecond),
				rc.First.Requested, rc.Second.Requested, rc.First.AddedDisk, rc.Second.AddedDisk), "", "", "10 s (100,000)", "1 s")
	}
	row(fmt.Sprintf("replay, %d facts into fresh read models", r.Replay.Facts), fmt.Sprintf("%s (%.0f facts/s)", r.Replay.Elapsed.Round(time.Millisecond), r.Replay.PerSec), "", "", "20 s (1,000,000)", "5 s")
	row(fmt.Sprintf("embedded durable appends, %d writers", r.Appends.Writers), fmt.Sprintf("%.0f/s, p50 %s, p99 %s", r.Appends.PerSec, fmtLatency(r.Appends.P50), fmtLatency(r.Appends.P99)), "", "", "20,000/s, p99 10 ms", "50,000/s")
	if r.StateBytes > 0 {
		row("disk per unchanged / per changed observation", fmt.Sprintf("%.0f B / %.0f B (%.2fx its %d-byte state)", r.DiskUnchanged, r.DiskChanged, r.DiskChanged/float64(r.StateBytes), r.StateBytes), "", "", "1 KB / 2x", "300 B / 1.2x")
	}
	row("heap per CI at the large reconcile's fleet (resident memory per CI)", fmt.Sprintf("%.1f KB (%.1f KB)", r.HeapPerCI/1024, r.RSSPerCI/1024), "", "", "6 KB", "3 KB")
	row("query API under ingest at the max rate (embedded / over Redis)", fmt.Sprintf("p99 %s / p99 %s", fmtLatency(r.Embedded.Queries.P99), fmtLatency(r.Redis.Queries.P99)), "", "", "p99 20 ms", "p99 5 ms")
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nErrors:")
		for _, e := range r.Errors {
			fmt.Fprintln(w, "- "+e)
		}
	}
}
