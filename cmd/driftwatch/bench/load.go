package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Defaults of Load.
const (
	// DefaultMaxInFlight bounds the sends outstanding at once.
	DefaultMaxInFlight = 4096
	// DefaultDrain bounds the wait after the last scheduled send.
	DefaultDrain = 2 * time.Second
	// DefaultSampleEvery is the backlog sampling interval for windows of 2 s and more.
	DefaultSampleEvery = 100 * time.Millisecond
)

// Load is one open-loop load: sends issued on a fixed schedule, send i at Start + i/Rate,
// whether or not earlier sends have returned.
type Load struct {
	// Rate is the offered rate in sends per second. Required, > 0.
	Rate float64
	// Duration is the measured window, which follows Warmup. Required, > 0.
	Duration time.Duration
	// Warmup is a lead-in on the same schedule whose sends are issued but not measured.
	// Default: 0.
	Warmup time.Duration
	// MaxInFlight bounds the sends outstanding at once (each runs in its own goroutine, so
	// concurrency grows while the system is slow). A send that falls due while MaxInFlight
	// are outstanding is not started and counts as dropped: the driver is behind.
	// Default: DefaultMaxInFlight (4096).
	MaxInFlight int
	// Drain bounds the wait, after the measured window, for outstanding sends to return and
	// for Progress to catch up with them; what is still outstanding then is cancelled and
	// counts as lost. Default: DefaultDrain (2s).
	Drain time.Duration
	// SampleEvery is the interval of backlog samples.
	// Default: DefaultSampleEvery (100ms), or Duration/20 when that is shorter.
	SampleEvery time.Duration
	// Progress, when set, returns how many items have completed end to end so far, warmup
	// included, each item counted once (for a pipeline: distinct items seen by its last
	// consumer). Default: the number of sends that returned nil.
	Progress func() uint64
}

func (l *Load) setDefaults() {
	if l.MaxInFlight == 0 {
		l.MaxInFlight = DefaultMaxInFlight
	}
	if l.Drain == 0 {
		l.Drain = DefaultDrain
	}
	if l.SampleEvery == 0 {
		l.SampleEvery = min(DefaultSampleEvery, max(l.Duration/20, time.Millisecond))
	}
}

// Validate reports every problem of the load at once.
func (l Load) Validate() error {
	var errs []error
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate must be a positive number, got %v", l.Rate))
	}
	if l.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration must be positive, got %s", l.Duration))
	}
	if l.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup must not be negative, got %s", l.Warmup))
	}
	if l.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("max in flight must not be negative, got %d", l.MaxInFlight))
	}
	if l.Drain < 0 {
		errs = append(errs, fmt.Errorf("drain must not be negative, got %s", l.Drain))
	}
	if l.SampleEvery < 0 {
		errs = append(errs, fmt.Errorf("sample interval must not be negative, got %s", l.SampleEvery))
	}
	return errors.Join(errs...)
}

// sendsWithin returns how many sends are scheduled in [0, d): ceil(d·Rate).
func (l Load) sendsWithin(d time.Duration) uint64 {
	// The epsilon keeps 0.2 s at 200/s at 40 sends despite float rounding.
	return uint64(math.Ceil(d.Seconds()*l.Rate - 1e-9))
}

// WarmupSends returns the number of warmup sends: those with seq < WarmupSends().
func (l Load) WarmupSends() uint64 { return l.sendsWithin(l.Warmup) }

// TotalSends returns the number of sends of the whole schedule, warmup included.
func (l Load) TotalSends() uint64 { return l.sendsWithin(l.Warmup + l.Duration) }

// IsWarmup reports whether send seq belongs to the warmup and is not measured.
func (l Load) IsWarmup(seq uint64) bool { return seq < l.WarmupSends() }

// offset returns when send seq is due, relative to the start.
func (l Load) offset(seq uint64) time.Duration {
	return time.Duration(float64(seq) / l.Rate * float64(time.Second))
}

// SendFunc sends item seq (0, 1, ... in schedule order) and returns when the system has taken
// it. It runs concurrently with other sends and must return when ctx is cancelled.
// ScheduledAt(ctx) is when the send was due.
type SendFunc func(ctx context.Context, seq uint64) error

// scheduledKey is the context key of a send's scheduled time.
type scheduledKey struct{}

// ScheduledAt returns when the send running under ctx was due by the schedule. End-to-end
// latency must be measured from this time, not from when the send began, so that a driver
// or system that falls behind shows up in the figures (no coordinated omission). It returns
// the zero time outside a send.
func ScheduledAt(ctx context.Context) time.Time {
	t, _ := ctx.Value(scheduledKey{}).(time.Time)
	return t
}

// BacklogSample is one reading of the backlog: items submitted (sends started) minus items
// completed (Progress) minus sends that failed.
type BacklogSample struct {
	// At is the time of the reading since the start of the schedule.
	At time.Duration
	// Items is the backlog.
	Items int64
}

// Result is what Drive observed. Counts without "Total" are of the measured window: sends
// scheduled in [Warmup, Warmup+Duration).
type Result struct {
	// Load is the load as run, defaults applied.
	Load Load
	// Start is when the schedule began (send 0 was due).
	Start time.Time
	// MeasureStart and MeasureEnd are when Progress was read at the two ends of the measured
	// window.
	MeasureStart, MeasureEnd time.Time
	// Offered is the number of sends scheduled in the measured window.
	Offered uint64
	// Issued is how many of them were started.
	Issued uint64
	// Dropped is how many were not started because MaxInFlight sends were outstanding.
	Dropped uint64
	// Failed is how many returned an error, or were cancelled after Drain.
	Failed uint64
	// Succeeded is how many returned nil.
	Succeeded uint64
	// Completed is the Progress gained during the measured window.
	Completed uint64
	// TotalIssued, TotalSucceeded and TotalFailed count the whole schedule, warmup included.
	TotalIssued, TotalSucceeded, TotalFailed uint64
	// SendLatency runs from each measured send's scheduled time to its return; sends that did
	// not succeed count as missing.
	SendLatency LatencySummary
	// PeakInFlight is the most sends outstanding at once.
	PeakInFlight int64
	// Backlog holds the backlog samples, every SampleEvery from the start to MeasureEnd.
	Backlog []BacklogSample
	// Drained reports whether every send returned and Progress caught up within Drain.
	Drained bool
	// FirstError is the first error a send returned.
	FirstError error
	// Err is set when the load was invalid or ctx ended the run early.
	Err error
}

// driver is the state of one Drive call.
type driver struct {
	load     Load
	send     SendFunc
	start    time.Time
	nWarm    uint64
	progress func() uint64
	sendLat  *Recorder
	wg       sync.WaitGroup

	inFlight, peak                  atomic.Int64
	issued, ok, failed              atomic.Uint64
	mIssued, mDropped, mOK, mFailed atomic.Uint64
	firstErrOnce                    sync.Once
	firstErr                        error
}

// Drive runs load against send: it starts send i in its own goroutine when it falls due,
// never waiting for earlier sends (open loop), and drops a due send when MaxInFlight are
// outstanding. Backlog is sampled every SampleEvery; Progress is read at both ends of the
// measured window. After the window it waits up to Drain for outstanding sends and
// completions, then cancels what is left and waits for every send to return. Cancelling ctx
// stops the schedule early (Result.Err says so).
func Drive(ctx context.Context, load Load, send SendFunc) Result {
	load.setDefaults()
	res := Result{Load: load}
	if err := load.Validate(); err != nil {
		res.Err = fault.Permanent(fmt.Errorf("invalid load: %w", err))
		return res
	}
	d := &driver{load: load, send: send, nWarm: load.WarmupSends(), sendLat: NewRecorder()}
	d.progress = load.Progress
	if d.progress == nil {
		d.progress = d.ok.Load
	}
	nTotal := load.TotalSends()
	res.Offered = nTotal - d.nWarm

	sendCtx, cancelSends := context.WithCancel(ctx)
	defer cancelSends()
	d.start = time.Now()
	res.Start = d.start

	sampled := make(chan sampling, 1)
	samplerCtx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	go func() { sampled <- d.sample(samplerCtx) }()

	res.Err = d.issueAll(ctx, sendCtx, nTotal)
	if res.Err != nil {
		stopSampler()
	}
	s := <-sampled
	res.Backlog, res.MeasureStart, res.MeasureEnd = s.backlog, s.startAt, s.endAt
	res.Completed = s.endProgress - s.startProgress
	if res.Err == nil {
		res.Drained = d.drain(ctx)
	}
	cancelSends()
	d.wg.Wait()
	if res.Err == nil {
		res.Err = ctx.Err()
	}

	res.Issued, res.Dropped = d.mIssued.Load(), d.mDropped.Load()
	res.Succeeded, res.Failed = d.mOK.Load(), d.mFailed.Load()
	res.TotalIssued, res.TotalSucceeded, res.TotalFailed = d.issued.Load(), d.ok.Load(), d.failed.Load()
	res.SendLatency = d.sendLat.Summary(res.Offered - min(res.Offered, res.Succeeded))
	res.PeakInFlight = d.peak.Load()
	res.FirstError = d.firstErr
	return res
}

// issueAll starts every send when it falls due; it returns ctx's error if ctx ends first.
func (d *driver) issueAll(ctx, sendCtx context.Context, nTotal uint64) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := uint64(0); seq < nTotal; {
		if wait := time.Until(d.start.Add(d.load.offset(seq))); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		// Catch up with every send that is due by now: timers are coarser than the
		// interval at high rates.
		now := time.Now()
		for ; seq < nTotal && !d.start.Add(d.load.offset(seq)).After(now); seq++ {
			d.issue(sendCtx, seq)
		}
	}
	return nil
}

// issue starts send seq in its own goroutine, or drops it when MaxInFlight are outstanding.
func (d *driver) issue(ctx context.Context, seq uint64) {
	measured := seq >= d.nWarm
	if d.inFlight.Load() >= int64(d.load.MaxInFlight) {
		if measured {
			d.mDropped.Add(1)
		}
		return
	}
	n := d.inFlight.Add(1)
	for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
	}
	d.issued.Add(1)
	if measured {
		d.mIssued.Add(1)
	}
	at := d.start.Add(d.load.offset(seq))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer d.inFlight.Add(-1)
		err := d.send(context.WithValue(ctx, scheduledKey{}, at), seq)
		lat := time.Since(at)
		if err != nil {
			d.firstErrOnce.Do(func() { d.firstErr = err })
			d.failed.Add(1)
			if measured {
				d.mFailed.Add(1)
			}
			return
		}
		d.ok.Add(1)
		if measured {
			d.mOK.Add(1)
			d.sendLat.Record(lat)
		}
	}()
}

// backlog returns submitted minus completed minus failed items now.
func (d *driver) backlog() int64 {
	done := int64(d.progress()) + int64(d.failed.Load())
	return int64(d.issued.Load()) - done
}

// sampling is what the sampler goroutine gathered.
type sampling struct {
	backlog                    []BacklogSample
	startAt, endAt             time.Time
	startProgress, endProgress uint64
}

// mark is one instant at which the sampler reads something.
type mark struct {
	at         time.Duration
	start, end bool
}

// sample reads the backlog every SampleEvery until the end of the measured window, and
// Progress at both ends of the window. If ctx ends first, the window ends then.
func (d *driver) sample(ctx context.Context) sampling {
	measureStart, measureEnd := d.load.Warmup, d.load.Warmup+d.load.Duration
	var marks []mark
	for at := time.Duration(0); at < measureEnd; at += d.load.SampleEvery {
		marks = append(marks, mark{at: at})
	}
	marks = append(marks, mark{at: measureStart, start: true}, mark{at: measureEnd, end: true})
	slices.SortStableFunc(marks, func(a, b mark) int { return cmp.Compare(a.at, b.at) })

	var s sampling
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	started := false
	for _, m := range marks {
		if wait := time.Until(d.start.Add(m.at)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				m = mark{start: !started, end: true}
			case <-timer.C:
			}
		}
		now, progress := time.Now(), d.progress()
		if m.start {
			s.startAt, s.startProgress, started = now, progress, true
		}
		s.backlog = append(s.backlog, BacklogSample{At: now.Sub(d.start), Items: d.backlog()})
		if m.end {
			s.endAt, s.endProgress = now, progress
			return s
		}
	}
	return s
}

// drain waits up to Drain for every send to return and Progress to account for every
// successful one; it reports whether they did.
func (d *driver) drain(ctx context.Context) bool {
	deadline := time.Now().Add(d.load.Drain)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if d.inFlight.Load() == 0 && d.progress() >= d.ok.Load() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
