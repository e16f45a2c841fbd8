package bench

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
	"unsafe"
)

func TestRecorder(t *testing.T) {
	t.Parallel()

	t.Run("reports_percentiles_of_a_known_distribution_within_bucket_precision", func(t *testing.T) {
		t.Parallel()
		r := NewRecorder()
		// 1..100 000 µs in random order: the q-quantile is q·100 ms.
		vals := rand.Perm(100_000)
		for _, v := range vals {
			r.Record(time.Duration(v+1) * time.Microsecond)
		}
		s := r.Summary(0)
		for _, c := range []struct {
			name      string
			got, want time.Duration
		}{
			{"p50", s.P50, 50 * time.Millisecond},
			{"p99", s.P99, 99 * time.Millisecond},
			{"p99.9", s.P999, 99900 * time.Microsecond},
		} {
			if diff := c.got - c.want; diff < -c.want/50 || diff > c.want/50 {
				t.Errorf("%s = %s, want %s ± 2%%", c.name, c.got, c.want)
			}
		}
		if s.Max != 100*time.Millisecond || s.Count != 100_000 {
			t.Errorf("max %s count %d, want exactly 100ms and 100000", s.Max, s.Count)
		}
		if s.Mean < 49*time.Millisecond || s.Mean > 51*time.Millisecond {
			t.Errorf("mean %s, want about 50ms", s.Mean)
		}
	})

	t.Run("counts_missing_items_as_unbounded_latency", func(t *testing.T) {
		t.Parallel()
		r := NewRecorder()
		for range 985 {
			r.Record(time.Millisecond)
		}
		// 15 of 1000 never completed: p50 is measured, p99 falls among the missing.
		s := r.Summary(15)
		if s.P50 > 1100*time.Microsecond || s.P50 < 900*time.Microsecond {
			t.Errorf("p50 = %s, want about 1ms", s.P50)
		}
		if s.P99 != Unbounded || s.P999 != Unbounded || s.Max != Unbounded {
			t.Errorf("p99 %s p99.9 %s max %s, want all unbounded", s.P99, s.P999, s.Max)
		}
		if got := r.Summary(0).P99; got == Unbounded {
			t.Errorf("without missing items p99 = %s", got)
		}
	})

	t.Run("keeps_exact_small_values_and_never_reports_above_the_maximum", func(t *testing.T) {
		t.Parallel()
		r := NewRecorder()
		r.Record(-5)
		r.Record(7)
		r.Record(7)
		s := r.Summary(0)
		if s.Max != 7 || s.P99 != 7 || s.P50 != 7 {
			t.Errorf("got %+v, want p50 = p99 = max = 7ns", s)
		}
	})

	t.Run("uses_fixed_memory_far_below_ten_megabytes_for_a_million_samples", func(t *testing.T) {
		t.Parallel()
		r := NewRecorder()
		for i := range 1_000_000 {
			r.Record(time.Duration(i) * 997)
		}
		if size := unsafe.Sizeof(*r); size > 64<<10 {
			t.Errorf("recorder is %d bytes", size)
		}
		if r.Count() != 1_000_000 {
			t.Errorf("count %d", r.Count())
		}
	})
}

// TestRecordDoesNotAllocate is not parallel: AllocsPerRun refuses to run beside other tests.
func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewRecorder()
	if allocs := testing.AllocsPerRun(1000, func() { r.Record(time.Millisecond) }); allocs != 0 {
		t.Errorf("record allocates %v times", allocs)
	}
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123_456_789, 1 << 40, 1<<63 - 1} {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			t.Fatalf("bucket of %d is %d, out of range", v, b)
		}
		mid := bucketMid(b)
		if diff := float64(mid) - float64(v); diff > float64(v)/64+1 || -diff > float64(v)/64+1 {
			t.Errorf("value %d lands in bucket %d whose middle %d is more than 1/64 away", v, b, mid)
		}
		if b > 0 && bucketOf(v) < bucketOf(v-1) {
			t.Errorf("buckets are not monotonic at %d", v)
		}
	}
}

func TestParseProc(t *testing.T) {
	t.Parallel()

	t.Run("reads_utime_and_stime_after_a_command_name_with_spaces_and_parentheses", func(t *testing.T) {
		t.Parallel()
		line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 12345 1000000 200 18446744073709551615\n"
		got, err := parseStatCPU([]byte(line), 100)
		if err != nil {
			t.Fatal(err)
		}
		if got != 3*time.Second {
			t.Errorf("cpu = %s, want 3s (300 ticks at 100 Hz)", got)
		}
		if _, err := parseStatCPU([]byte("4242 (x) S 1 2"), 100); err == nil {
			t.Error("a truncated stat line parsed")
		}
	})

	t.Run("reads_vmrss_in_bytes", func(t *testing.T) {
		t.Parallel()
		status := "Name:\tredis-server\nVmPeak:\t  99999 kB\nVmRSS:\t    8192 kB\nThreads:\t5\n"
		got, err := parseStatusRSS([]byte(status))
		if err != nil {
			t.Fatal(err)
		}
		if got != 8192*1024 {
			t.Errorf("rss = %d, want %d", got, 8192*1024)
		}
		if _, err := parseStatusRSS([]byte("Name:\tx\n")); err == nil {
			t.Error("a status without VmRSS parsed")
		}
	})

	t.Run("reads_this_process_from_proc", func(t *testing.T) {
		t.Parallel()
		if _, err := os.Stat("/proc/self/stat"); err != nil {
			t.Skip("no /proc on this system")
		}
		st, err := ReadProc(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if st.RSS == 0 {
			t.Error("rss of this process is 0")
		}
		if _, err := ReadProc(1 << 30); err == nil {
			t.Error("a process that cannot exist was read")
		}
	})
}

func TestProcWatch(t *testing.T) {
	t.Parallel()

	t.Run("interpolates_cumulative_cpu_at_the_window_ends", func(t *testing.T) {
		t.Parallel()
		t0 := time.Now()
		w := &ProcWatch{procs: []Proc{{PID: 1, Label: "x"}}}
		for i, cpu := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond} {
			w.samples = append(w.samples, procSample{
				at:    t0.Add(time.Duration(i) * time.Second),
				stats: []ProcStat{{CPU: cpu, RSS: uint64(i+1) << 20}},
				errs:  []error{nil},
			})
		}
		u := w.Usage(t0.Add(500*time.Millisecond), t0.Add(1500*time.Millisecond))[0]
		// 50ms at 0.5 s, 200ms at 1.5 s.
		if u.CPU != 150*time.Millisecond {
			t.Errorf("cpu = %s, want 150ms", u.CPU)
		}
		if u.Cores < 0.149 || u.Cores > 0.151 {
			t.Errorf("cores = %v, want 0.15", u.Cores)
		}
		if u.PeakRSS != 2<<20 {
			t.Errorf("peak rss = %d, want the one sample inside the window (2 MiB)", u.PeakRSS)
		}
	})

	t.Run("sees_the_cpu_a_busy_loop_burns", func(t *testing.T) {
		t.Parallel()
		if _, err := os.Stat("/proc/self/stat"); err != nil {
			t.Skip("no /proc on this system")
		}
		w := WatchProcs([]Proc{Self(), {PID: 1 << 30, Label: "gone"}}, 20*time.Millisecond)
		from := time.Now()
		x := 0
		for time.Since(from) < 300*time.Millisecond {
			x++
		}
		to := time.Now()
		w.Stop()
		w.Stop()
		u := w.Usage(from, to)
		if u[0].Err != nil || u[0].CPU <= 0 || u[0].PeakRSS == 0 {
			t.Errorf("self: %+v (x=%d), want cpu and rss measured", u[0], x)
		}
		if u[1].Err == nil {
			t.Errorf("a missing process reported no error: %+v", u[1])
		}
		if TotalCPU(u) != u[0].CPU {
			t.Errorf("total cpu %s, want self's %s", TotalCPU(u), u[0].CPU)
		}
	})
}
