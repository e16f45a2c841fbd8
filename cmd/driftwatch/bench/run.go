package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Options configure a bench run.
type Options struct {
	// Binary is the driftwatch executable to run as the system under test; required.
	Binary string
	// Dir holds a fresh directory per run (driftwatch-bench-*), kept; empty: a temporary one.
	Dir string
	// Quick runs a tiny load for CI: it shows the harness works, its figures mean little.
	Quick bool
	// Out receives progress lines.
	Out io.Writer
}

// Report is everything one run measured.
type Report struct {
	Quick   bool
	Machine string
	Started time.Time

	Stock, Raw                   Measured // reference chains
	Embedded, Redis, Deviating10 Measured // driftwatch: embedded (HTTP), over Redis (XADD), embedded with 10% deviating
	CPUUnchanged                 time.Duration
	Reconcile                    []ReconcileRun
	Replay                       Replay
	Appends                      Appends
	DiskUnchanged, DiskChanged   float64 // bytes per observation
	StateBytes                   int
	HeapPerCI, RSSPerCI          float64 // bytes per CI at the large reconcile's fleet
	Errors                       []string
}

// Measured is one system's highest sustained rate and its latency at half that rate.
type Measured struct {
	Max     Trial
	Half    Trial
	Queries LatencySummary // the query prober at the max rate (driftwatch only)
}

// ReconcileRun is a reconcile of a fleet of CIs, 1% of them drifted, done twice.
type ReconcileRun struct {
	CIs           int
	First, Second Reconcile
}

// scale is what a run's size depends on.
type scale struct {
	cis, types, reconcileSmall, reconcileLarge, replay int
	search                                             Search
	appendFor                                          time.Duration
}

func scaleOf(quick bool) scale {
	if quick {
		return scale{cis: 200, types: 2, reconcileSmall: 500, reconcileLarge: 1000, replay: 20_000, appendFor: time.Second,
			search: Search{From: 200, Max: 800, Trial: time.Second, Warmup: 500 * time.Millisecond, MaxTrials: 3}}
	}
	return scale{cis: 10_000, types: 10, reconcileSmall: 10_000, reconcileLarge: 100_000, replay: 1_000_000, appendFor: 5 * time.Second,
		search: Search{From: 1000, Max: 60_000, Trial: 8 * time.Second, Warmup: 2 * time.Second, MaxTrials: 10}}
}

// Run measures everything, in the order the report lists it.
func Run(ctx context.Context, opt Options) (Report, error) {
	sc := scaleOf(opt.Quick)
	rep := Report{Quick: opt.Quick, Started: time.Now(), Machine: machine()}
	// Every run starts from empty data directories: a fresh one inside Dir, kept for
	// inspection, or a temporary one, removed.
	dir, err := os.MkdirTemp(opt.Dir, "driftwatch-bench-")
	if err != nil {
		return rep, err
	}
	if opt.Dir == "" {
		defer os.RemoveAll(dir)
	}
	logf := func(format string, args ...any) {
		if opt.Out != nil {
			fmt.Fprintf(opt.Out, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	fail := func(what string, err error) {
		rep.Errors = append(rep.Errors, what+": "+err.Error())
		logf("%s failed: %v", what, err)
	}
	search := func(name string, s Search, trial TrialFunc) (Trial, error) {
		s.OnTrial = func(t Trial) { logf("  %s %s", name, t) }
		best, _, err := FindMax(ctx, s, trial)
		return best, err
	}

	if err := os.MkdirAll(filepath.Join(dir, "redis"), 0o750); err != nil {
		return rep, err
	}
	red, err := StartRedis(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		return rep, err
	}
	defer red.Stop()
	procs := []Proc{Self(), red.Proc()}
	log := zap.NewNop()

	// The references: 5 hops of ~4 KB messages, stock watermill-redisstream and raw go-redis.
	for _, ref := range []struct {
		name string
		into *Measured
		new  func() (TrialFunc, error)
	}{
		{"stock watermill-redisstream chain", &rep.Stock, func() (TrialFunc, error) {
			c, err := NewStockChain(ChainConfig{Addr: red.Addr(), Procs: procs}, log)
			if err != nil {
				return nil, err
			}
			return c.Trial, nil
		}},
		{"raw go-redis chain", &rep.Raw, func() (TrialFunc, error) {
			c, err := NewRawChain(ChainConfig{Addr: red.Addr(), Procs: procs}, log)
			if err != nil {
				return nil, err
			}
			return c.Trial, nil
		}},
	} {
		logf("Measuring the %s", ref.name)
		trial, err := ref.new()
		if err != nil {
			fail(ref.name, err)
			continue
		}
		if ref.into.Max, err = search(ref.name, sc.search, trial); err != nil {
			fail(ref.name, err)
			continue
		}
		if ref.into.Half, err = trial(ctx, trialLoad(sc.search, ref.into.Max.Rate/2)); err != nil {
			fail(ref.name+" at half rate", err)
		}
	}

	token := randomToken()
	dwRun := func(name string, into *Measured, redisURL string, deviating float64, extra func(*Driftwatch) error) {
		logf("Measuring driftwatch %s", name)
		sut, err := StartDriftwatch(ctx, SUTConfig{Binary: opt.Binary, DataDir: filepath.Join(dir, "sut-"+safe(name)), RedisURL: redisURL, Token: token})
		if err != nil {
			fail(name, err)
			return
		}
		defer sut.Stop()
		d := &Driftwatch{SUT: sut, Fleet: NewFleet(sc.cis, sc.types, deviating), Procs: append([]Proc{sut.Proc()}, procs...)}
		if redisURL != "" {
			d.Redis = redis.NewClient(&redis.Options{Addr: red.Addr(), PoolSize: 64})
			defer d.Redis.Close()
		}
		if err := d.Start(ctx); err != nil {
			fail(name, err)
			return
		}
		if err := d.Prime(ctx); err != nil {
			fail(name+" prime", err)
			return
		}
		if into.Max, err = search("driftwatch "+name, sc.search, d.Trial); err != nil {
			fail(name, err)
			return
		}
		into.Queries = d.Queries
		if into.Half, err = d.Trial(ctx, trialLoad(sc.search, into.Max.Rate/2)); err != nil {
			fail(name+" at half rate", err)
		}
		if extra != nil {
			if err := extra(d); err != nil {
				fail(name, err)
			}
		}
	}
	dwRun("embedded", &rep.Embedded, "", 0.01, func(d *Driftwatch) error {
		// CPU per unchanged observation: nothing deviates, at half the max rate.
		d.Fleet.Deviating = 0
		t, err := d.Trial(ctx, trialLoad(sc.search, rep.Embedded.Max.Rate/2))
		if err != nil {
			return err
		}
		rep.CPUUnchanged = t.CPUPerItem
		return measureDisk(ctx, d, &rep)
	})
	dwRun("over Redis", &rep.Redis, red.URL(), 0.01, nil)
	dwRun("embedded, 10% deviating", &rep.Deviating10, "", 0.10, nil)

	for _, n := range []int{sc.reconcileSmall, sc.reconcileLarge} {
		logf("Measuring a reconcile of %d CIs", n)
		r, mem, err := measureReconcile(ctx, opt.Binary, filepath.Join(dir, fmt.Sprint("reconcile-", n)), token, n, sc.types)
		if err != nil {
			fail(fmt.Sprint("reconcile of ", n), err)
			continue
		}
		rep.Reconcile = append(rep.Reconcile, r)
		if n == sc.reconcileLarge {
			rep.HeapPerCI, rep.RSSPerCI = mem.heap, mem.rss
		}
	}
	logf("Measuring a replay of %d facts", sc.replay)
	if rep.Replay, err = MeasureReplay(ctx, filepath.Join(dir, "replay"), sc.replay); err != nil {
		fail("replay", err)
	}
	logf("Measuring durable appends")
	if rep.Appends, err = MeasureAppends(ctx, dir, 64, sc.appendFor); err != nil {
		fail("appends", err)
	}
	return rep, nil
}

// trialLoad is one trial at rate with the search's durations.
func trialLoad(s Search, rate float64) Load {
	s.setDefaults()
	return Load{Rate: max(1, rate), Duration: s.Trial, Warmup: s.Warmup, MaxInFlight: s.MaxInFlight, Drain: s.Drain}
}

// measureDisk sends unchanged, then changed observations and divides what the data directory
// grew by their number.
func measureDisk(ctx context.Context, d *Driftwatch, rep *Report) error {
	n := uint64(max(2000, d.Fleet.CIs*2))
	rep.StateBytes = len(d.Fleet.state)
	grow := func(deviating float64) (float64, error) {
		d.Fleet.Deviating = deviating
		if err := d.SUT.WaitIdle(ctx, 300*time.Millisecond); err != nil {
			return 0, err
		}
		before, err := d.SUT.DiskBytes()
		if err != nil {
			return 0, err
		}
		base := d.seq.Add(n) - n
		for i := range n {
			if err := d.send(ctx, base+i, time.Now(), deviating == 0); err != nil {
				return 0, err
			}
		}
		if err := d.SUT.WaitIdle(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
		after, err := d.SUT.DiskBytes()
		return float64(after-before) / float64(n), err
	}
	var err error
	if rep.DiskUnchanged, err = grow(0); err != nil {
		return err
	}
	// Every other observation deviates (a new state); the next one of its CI goes back.
	rep.DiskChanged, err = grow(0.5)
	return err
}

// perCI is what a process holds per CI: live heap after a collection, and resident memory.
type perCI struct{ heap, rss float64 }

// measureReconcile primes n CIs, 1% of them drifted, and reconciles twice; it also reports
// the process's memory per CI (heap through its pprof endpoint).
func measureReconcile(ctx context.Context, binary, dir, token string, n, types int) (ReconcileRun, perCI, error) {
	pprofAddr, err := freeAddr()
	if err != nil {
		return ReconcileRun{}, perCI{}, err
	}
	sut, err := StartDriftwatch(ctx, SUTConfig{Binary: binary, DataDir: dir, Token: token, Args: []string{"--pprof", pprofAddr}})
	if err != nil {
		return ReconcileRun{}, perCI{}, err
	}
	defer sut.Stop()
	startRSS, _ := ReadProc(sut.Proc().PID)
	startHeap, err := heapInuse(ctx, pprofAddr)
	if err != nil {
		return ReconcileRun{}, perCI{}, err
	}
	d := &Driftwatch{SUT: sut, Fleet: NewFleet(n, types, 0)}
	if err := d.Start(ctx); err != nil {
		return ReconcileRun{}, perCI{}, err
	}
	if err := d.Prime(ctx); err != nil {
		return ReconcileRun{}, perCI{}, err
	}
	// 1% drifted: one deviating observation each.
	d.Fleet.Deviating = 1
	base := d.seq.Add(uint64(n)) - uint64(n)
	for i := 0; i < n; i += 100 {
		if err := d.send(ctx, base+uint64(i), time.Now(), false); err != nil {
			return ReconcileRun{}, perCI{}, fmt.Errorf("drift a CI: %w", err)
		}
	}
	d.Fleet.Deviating = 0
	if err := sut.WaitIdle(ctx, 500*time.Millisecond); err != nil {
		return ReconcileRun{}, perCI{}, err
	}
	r := ReconcileRun{CIs: n}
	if r.First, err = MeasureReconcile(ctx, sut); err != nil {
		return r, perCI{}, err
	}
	if r.Second, err = MeasureReconcile(ctx, sut); err != nil {
		return r, perCI{}, err
	}
	endRSS, _ := ReadProc(sut.Proc().PID)
	endHeap, err := heapInuse(ctx, pprofAddr)
	if err != nil {
		return r, perCI{}, err
	}
	return r, perCI{heap: float64(endHeap-startHeap) / float64(n), rss: float64(endRSS.RSS-startRSS.RSS) / float64(n)}, nil
}

// heapInuse collects garbage in the process serving pprof at addr and reads the heap it
// keeps in use (runtime.MemStats.HeapInuse).
func heapInuse(ctx context.Context, addr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read the heap: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapInuse = "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("read the heap: no HeapInuse in the profile (%v)", sc.Err())
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "dwb_" + hex.EncodeToString(b)
}

func safe(s string) string {
	out := []byte{}
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			out = append(out, c)
		} else {
			out = append(out, '-')
		}
	}
	return string(out)
}
