package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observations is the stream sources XADD observations onto, and ingest its group there.
const (
	Observations = "driftwatch.observations.v1"
	ingestGroup  = "ingest"
)

// Driftwatch runs open-loop trials of observations against a running driftwatch: over HTTP
// (POST /observations: the door ingests before it answers, so an answer is a completion) or
// straight onto the observations stream (XADD: a completion once the ingest group acked it).
// An item's latency runs from its scheduled time until the drift it opens is readable: the
// API's drift stream (GET /drift/events/stream) announces a drift once the read models
// applied it. Observations that repeat their CI's state open no drift and have no latency; a
// deviating one whose drift never arrives counts as missing, infinitely late. While a trial
// runs, a prober queries the API (GET /drift/events?limit=20 and GET /drift/report in turn)
// 20 times a second.
type Driftwatch struct {
	SUT   *SUT
	Fleet *Fleet
	// Redis, when set, is the server observations are XADDed to; nil: HTTP.
	Redis *redis.Client
	Procs []Proc

	seq    atomic.Uint64 // the next observation, across trials: CIs go round-robin
	stream *driftStream
	xadd   *xadder

	// Queries is the prober's latency during the last trial.
	Queries LatencySummary
}

// Start follows the API's drift stream (and starts the XADD pipeline in stream mode).
func (d *Driftwatch) Start(ctx context.Context) error {
	s, err := followDrifts(ctx, d.SUT)
	if err != nil {
		return err
	}
	d.stream = s
	if d.Redis != nil {
		d.xadd = newXadder(ctx, d.Redis)
	}
	return nil
}

// Prime puts one template per type and sends every CI its usual state once, so that trials
// find a fleet that is known and in sync, then waits until the pipeline is idle.
func (d *Driftwatch) Prime(ctx context.Context) error {
	for t := range d.Fleet.Types {
		id, body := d.Fleet.Template(t)
		if code, raw, err := d.SUT.Do(ctx, http.MethodPut, "/templates/"+id, "application/json", body); err != nil || code >= 300 {
			return fmt.Errorf("put template %s: %d %s %v", id, code, raw, err)
		}
	}
	// Start from a multiple of the fleet's size: CI i is observation seq i (mod the size).
	n := uint64(d.Fleet.CIs)
	base := (d.seq.Load() + n - 1) / n * n
	d.seq.Store(base + n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.send(ctx, base+i, time.Now(), true); err != nil {
				failed.Store(&err)
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return fmt.Errorf("prime the fleet: %w", *err)
	}
	if err := d.waitIngested(ctx); err != nil {
		return err
	}
	return d.SUT.WaitIdle(ctx, 500*time.Millisecond)
}

// send submits observation seq, scheduled at at; usual forces the CI's usual state.
func (d *Driftwatch) send(ctx context.Context, seq uint64, at time.Time, usual bool) error {
	if d.Redis != nil {
		ev, _, _ := d.Fleet.Envelope(seq, at, usual)
		return d.xadd.add(ctx, ev)
	}
	body, _, _, _ := d.Fleet.Observation(seq, at, usual)
	code, raw, err := d.SUT.Do(ctx, http.MethodPost, "/observations", "application/json", body)
	if err != nil {
		return err
	}
	if code != http.StatusAccepted {
		return fmt.Errorf("POST /observations: %d %s", code, bytes.TrimSpace(raw))
	}
	return nil
}

// ingested is how many observations the ingest group acknowledged (stream mode).
func (d *Driftwatch) ingested(ctx context.Context) (uint64, error) {
	groups, err := d.Redis.XInfoGroups(ctx, Observations).Result()
	if err != nil {
		return 0, err
	}
	for _, g := range groups {
		if g.Name == ingestGroup {
			return uint64(max(0, g.EntriesRead-g.Pending)), nil
		}
	}
	return 0, nil
}

// waitIngested waits, in stream mode, until the ingest group has read and acknowledged
// every entry.
func (d *Driftwatch) waitIngested(ctx context.Context) error {
	if d.Redis == nil {
		return nil
	}
	for {
		groups, err := d.Redis.XInfoGroups(ctx, Observations).Result()
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.Name == ingestGroup && g.Lag == 0 && g.Pending == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Trial implements TrialFunc.
func (d *Driftwatch) Trial(ctx context.Context, load Load) (Trial, error) {
	base := d.seq.Load()
	d.seq.Add(load.TotalSends() + 1)
	lat := NewRecorder()
	var expected, arrived atomic.Uint64
	var pending sync.Map // observation id -> scheduled time, of measured deviating items
	d.stream.watch(func(obsID string, at time.Time) {
		if v, ok := pending.LoadAndDelete(obsID); ok {
			lat.Record(at.Sub(v.(time.Time)))
			arrived.Add(1)
		}
	})
	defer d.stream.watch(nil)

	var completed atomic.Uint64
	var progressErr atomic.Pointer[error]
	startIngested := uint64(0)
	if d.Redis != nil {
		n, err := d.ingested(ctx)
		if err != nil {
			return Trial{}, fmt.Errorf("read ingest progress: %w", err)
		}
		startIngested = n
		load.Progress = func() uint64 {
			n, err := d.ingested(ctx)
			if err != nil {
				progressErr.Store(&err)
				return completed.Load()
			}
			completed.Store(n - startIngested)
			return completed.Load()
		}
	} else {
		load.Progress = completed.Load
	}
	send := func(ctx context.Context, i uint64) error {
		seq := base + i
		at := ScheduledAt(ctx)
		if !load.IsWarmup(i) && d.Fleet.Deviates(seq) {
			expected.Add(1)
			pending.Store("o-"+strconv.FormatUint(seq, 10), at)
		}
		err := d.send(ctx, seq, at, false)
		if err == nil && d.Redis == nil {
			completed.Add(1)
		}
		return err
	}
	probe := newProber(d.SUT)
	pctx, stopProbe := context.WithCancel(ctx)
	go probe.run(pctx)
	watch := WatchProcs(d.Procs, 0)
	res := Drive(ctx, load, send)
	stopProbe()
	// The drifts of the last items are still on their way: give them the drain time.
	for deadline := time.Now().Add(load.Drain); arrived.Load() < expected.Load() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	watch.Stop()
	if os.Getenv("DRIFTWATCH_BENCH_DEBUG") != "" {
		pending.Range(func(k, v any) bool {
			seq, _ := strconv.ParseUint(strings.TrimPrefix(k.(string), "o-"), 10, 64)
			ci := d.Fleet.CI(int(seq % uint64(d.Fleet.CIs)))
			_, body, _ := d.SUT.Do(ctx, http.MethodGet, "/drift/events?ci="+ci, "", nil)
			fmt.Fprintf(os.Stderr, "missing drift of %v on %s (scheduled %v): %s\n", k, ci, v, body)
			return true
		})
	}
	if res.Err != nil {
		return Trial{}, res.Err
	}
	if p := progressErr.Load(); p != nil {
		return Trial{}, fmt.Errorf("read ingest progress: %w", *p)
	}
	t := res.Trial()
	t.Latency = lat.Summary(expected.Load() - min(expected.Load(), arrived.Load()))
	t.Delivered = arrived.Load()
	t.Procs = watch.Usage(res.MeasureStart, res.MeasureEnd)
	if t.Completed > 0 {
		t.CPUPerItem = TotalCPU(t.Procs) / time.Duration(t.Completed)
	}
	d.Queries = probe.rec.Summary(0)
	// Let what is left drain before the next trial is judged.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_ = d.waitIngested(wctx)
	_ = d.SUT.WaitIdle(wctx, 300*time.Millisecond)
	return t, nil
}

// prober queries the API at 20/s and records how long each answer takes.
type prober struct {
	sut *SUT
	rec *Recorder
}

func newProber(s *SUT) *prober { return &prober{sut: s, rec: NewRecorder()} }

func (p *prober) run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	paths := []string{"/drift/events?limit=20", "/drift/report"}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		if code, _, err := p.sut.Do(ctx, http.MethodGet, paths[i%len(paths)], "", nil); err == nil && code == http.StatusOK {
			p.rec.Record(time.Since(start))
		}
	}
}

// driftStream follows GET /drift/events/stream and tells a watcher the observation of each
// drift.detected and drift.updated.
type driftStream struct {
	mu sync.Mutex
	fn func(obsID string, at time.Time)
}

func (s *driftStream) watch(fn func(string, time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fn = fn
}

func followDrifts(ctx context.Context, sut *SUT) (*driftStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sut.URL()+"/drift/events/stream", nil)
	if err != nil {
		return nil, err
	}
	if sut.token != "" {
		req.Header.Set("Authorization", "Bearer "+sut.token)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("follow the drift stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("follow the drift stream: %s", resp.Status)
	}
	s := &driftStream{}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && (name == "drift.detected" || name == "drift.updated"):
				// A CI that deviates again before it went back shows its new value as an
				// update of the drift already open.
				var ev struct {
					Data struct {
						ObservationID string `json:"observation_id"`
					} `json:"data"`
				}
				at := time.Now()
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					s.mu.Lock()
					fn := s.fn
					s.mu.Unlock()
					if fn != nil {
						fn(ev.Data.ObservationID, at)
					}
				}
			case line == "":
				name = ""
			}
		}
	}()
	return s, nil
}

// xadder pipelines the XADDs of concurrent sends, up to 256 per round trip, as a source
// fleet's agents together would load the server.
type xadder struct {
	client *redis.Client
	reqs   chan xaddReq
}

type xaddReq struct {
	event []byte
	reply chan error
}

func newXadder(ctx context.Context, c *redis.Client) *xadder {
	x := &xadder{client: c, reqs: make(chan xaddReq, 4096)}
	for range 2 {
		go x.loop(ctx)
	}
	return x
}

func (x *xadder) add(ctx context.Context, ev []byte) error {
	r := xaddReq{event: ev, reply: make(chan error, 1)}
	select {
	case x.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (x *xadder) loop(ctx context.Context) {
	batch := make([]xaddReq, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-x.reqs:
			batch = append(batch[:0], r)
		gather:
			for len(batch) < cap(batch) {
				select {
				case r := <-x.reqs:
					batch = append(batch, r)
				default:
					break gather
				}
			}
			pipe := x.client.Pipeline()
			cmds := make([]*redis.StringCmd, len(batch))
			for i, r := range batch {
				cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: Observations, Values: []any{"event", r.event}})
			}
			_, _ = pipe.Exec(ctx)
			for i, r := range batch {
				r.reply <- cmds[i].Err()
			}
		}
	}
}
