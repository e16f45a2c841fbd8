package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Trial is one run of a system at one offered rate, reduced to the figures that are reported
// and judged. Counts are of the measured window unless they say otherwise.
type Trial struct {
	// Rate is the offered rate, items per second.
	Rate float64
	// Duration is the measured window's wall time.
	Duration time.Duration
	// Offered is the number of items scheduled in the window.
	Offered uint64
	// Dropped is how many of them the driver could not start (MaxInFlight outstanding).
	Dropped uint64
	// Failed is how many sends returned an error.
	Failed uint64
	// Completed is the number of end-to-end completions during the window (of any item,
	// warmup included: in a steady state they replace the window's own tail).
	Completed uint64
	// Achieved is Completed per second of the window.
	Achieved float64
	// BacklogGrowth is the slope, in items per second, of the least-squares line through
	// the backlog samples of the second half of the window; 0 with fewer than 2 samples.
	BacklogGrowth float64
	// BacklogEnd is the backlog at the end of the window.
	BacklogEnd int64
	// Latency is the end-to-end latency of the window's items from their scheduled time;
	// items that never completed (dropped, failed or lost) count as missing.
	Latency LatencySummary
	// Sent is the number of successful sends, warmup included.
	Sent uint64
	// Delivered is the number of distinct items that reached the end, warmup included (0
	// for a system without a final consumer).
	Delivered uint64
	// Duplicates is the number of deliveries of an item already delivered.
	Duplicates uint64
	// Procs is the CPU time and memory of each watched process over the window.
	Procs []ProcUsage
	// CPUPerItem is the CPU time of all Procs per completed item.
	CPUPerItem time.Duration
	// Pass and Reason are the verdict of a Criterion (set by FindMax).
	Pass bool
	// Reason says why the trial failed, or is empty.
	Reason string
}

// Trial reduces the result to a Trial whose latency is the send latency: right for a system
// where a send's return is its completion. A system with its own end-to-end measure
// overwrites Latency (and Delivered, Duplicates, Procs, CPUPerItem).
func (r Result) Trial() Trial {
	t := Trial{
		Rate:      r.Load.Rate,
		Duration:  r.MeasureEnd.Sub(r.MeasureStart),
		Offered:   r.Offered,
		Dropped:   r.Dropped,
		Failed:    r.Failed,
		Completed: r.Completed,
		Latency:   r.SendLatency,
		Sent:      r.TotalSucceeded,
	}
	if t.Duration > 0 {
		t.Achieved = float64(t.Completed) / t.Duration.Seconds()
	}
	half := r.Load.Warmup + r.Load.Duration/2
	var xs, ys []float64
	for _, s := range r.Backlog {
		if s.At >= half {
			xs, ys = append(xs, s.At.Seconds()), append(ys, float64(s.Items))
		}
	}
	t.BacklogGrowth = slope(xs, ys)
	if n := len(r.Backlog); n > 0 {
		t.BacklogEnd = r.Backlog[n-1].Items
	}
	return t
}

// slope returns the least-squares slope of ys over xs, or 0 with fewer than two distinct xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// String formats the trial on one line.
func (t Trial) String() string {
	verdict := "pass"
	if !t.Pass {
		verdict = "fail"
		if t.Reason != "" {
			verdict += " (" + t.Reason + ")"
		}
	}
	return fmt.Sprintf("rate=%.0f/s achieved=%.0f/s completed=%d/%d dropped=%d failed=%d backlog_growth=%.1f/s %s cpu/item=%s %s",
		t.Rate, t.Achieved, t.Completed, t.Offered, t.Dropped, t.Failed, t.BacklogGrowth, t.Latency, t.CPUPerItem, verdict)
}

// Defaults of Criterion.
const (
	// DefaultMinCompletion is the least share of the offered items that must complete.
	DefaultMinCompletion = 0.97
	// DefaultMaxBacklogGrowth is the largest backlog growth allowed, as a share of the rate.
	DefaultMaxBacklogGrowth = 0.03
	// DefaultMaxP99 is the bound on the 99th percentile of end-to-end latency.
	DefaultMaxP99 = time.Second
)

// Criterion decides whether a system kept up with a trial. A trial at offered rate R over a
// measured window of wall time D passes when all three hold:
//
//  1. Completion: Completed ≥ MinCompletion × Offered, where Offered is the number of items
//     scheduled in the window (ceil of D·R) and Completed the number of end-to-end
//     completions observed during the window (throughput, not a count of the window's own
//     items: in a steady state the warmup's tail replaces the window's).
//  2. No growing backlog: the backlog is sampled every 100 ms (D/20 for short windows) as
//     items submitted minus items completed minus sends failed; the slope of the
//     least-squares line through the samples of the second half of the window is at most
//     MaxBacklogGrowth × R items per second (with the defaults, the backlog grows by less
//     than 3% of what is offered in the same time).
//  3. Latency: the 99th percentile of end-to-end latency, measured from each item's
//     scheduled send time (not from when it was actually sent) over every item scheduled in
//     the window, is below MaxP99; an item that was dropped by the driver, failed or had not
//     completed by the end of the drain counts as infinitely late.
type Criterion struct {
	// MinCompletion is the least share of Offered that must complete during the window.
	// Default: DefaultMinCompletion (0.97).
	MinCompletion float64
	// MaxBacklogGrowth bounds the backlog's slope in the window's second half, as a share of
	// the offered rate. Default: DefaultMaxBacklogGrowth (0.03).
	MaxBacklogGrowth float64
	// MaxP99 bounds the 99th percentile of end-to-end latency. Default: DefaultMaxP99 (1s).
	MaxP99 time.Duration
}

func (c *Criterion) setDefaults() {
	if c.MinCompletion == 0 {
		c.MinCompletion = DefaultMinCompletion
	}
	if c.MaxBacklogGrowth == 0 {
		c.MaxBacklogGrowth = DefaultMaxBacklogGrowth
	}
	if c.MaxP99 == 0 {
		c.MaxP99 = DefaultMaxP99
	}
}

// Validate reports every problem of the criterion at once.
func (c Criterion) Validate() error {
	var errs []error
	if !(c.MinCompletion > 0 && c.MinCompletion <= 1) {
		errs = append(errs, fmt.Errorf("min completion must be in (0, 1], got %v", c.MinCompletion))
	}
	if !(c.MaxBacklogGrowth > 0) {
		errs = append(errs, fmt.Errorf("max backlog growth must be positive, got %v", c.MaxBacklogGrowth))
	}
	if c.MaxP99 <= 0 {
		errs = append(errs, fmt.Errorf("max p99 must be positive, got %s", c.MaxP99))
	}
	return errors.Join(errs...)
}

// Judge applies the criterion (defaults filled in) to t and returns the verdict and, for a
// failure, every reason.
func (c Criterion) Judge(t Trial) (pass bool, reason string) {
	c.setDefaults()
	var reasons []string
	if float64(t.Completed) < c.MinCompletion*float64(t.Offered) {
		reasons = append(reasons, fmt.Sprintf("completed %d of %d offered, under %.0f%%", t.Completed, t.Offered, c.MinCompletion*100))
	}
	if limit := c.MaxBacklogGrowth * t.Rate; t.BacklogGrowth > limit {
		reasons = append(reasons, fmt.Sprintf("backlog grows %.1f/s, over %.1f/s", t.BacklogGrowth, limit))
	}
	if t.Latency.P99 >= c.MaxP99 {
		reasons = append(reasons, fmt.Sprintf("p99 %s, not under %s", fmtLatency(t.Latency.P99), c.MaxP99))
	}
	return len(reasons) == 0, strings.Join(reasons, "; ")
}

// Defaults of Search.
const (
	// DefaultFrom is the first rate tried.
	DefaultFrom = 1000
	// DefaultMaxRate is the highest rate tried.
	DefaultMaxRate = 100_000
	// DefaultMinRate is the lowest rate tried.
	DefaultMinRate = 10
	// DefaultStep is the factor by which the rate grows while trials pass.
	DefaultStep = 2
	// DefaultPrecision ends the bisection.
	DefaultPrecision = 0.05
	// DefaultMaxTrials bounds the number of trials of one search.
	DefaultMaxTrials = 16
	// DefaultTrialDuration is the measured window of each trial.
	DefaultTrialDuration = 10 * time.Second
	// DefaultWarmup is the lead-in of each trial.
	DefaultWarmup = 2 * time.Second
)

// ErrNoPass is returned by FindMax when not even the lowest rate tried passed.
var ErrNoPass = errors.New("no trial passed")

// Search configures FindMax.
type Search struct {
	// From is the first rate tried, per second. Default: DefaultFrom (1000).
	From float64
	// Max is the highest rate tried: a pass there ends the search. Default: DefaultMaxRate
	// (100 000).
	Max float64
	// Min is the lowest rate tried when From fails: a failure there ends the search.
	// Default: DefaultMinRate (10).
	Min float64
	// Step is the factor by which the rate grows while trials pass, and shrinks while they
	// fail before any passed. Must be > 1. Default: DefaultStep (2).
	Step float64
	// Precision ends the bisection once the lowest failing rate is within Precision (a share)
	// of the highest passing one. Default: DefaultPrecision (0.05).
	Precision float64
	// MaxTrials bounds the number of trials. Default: DefaultMaxTrials (16).
	MaxTrials int
	// Trial is the measured window of each trial. Default: DefaultTrialDuration (10s).
	Trial time.Duration
	// Warmup is the unmeasured lead-in of each trial. Default: DefaultWarmup (2s).
	Warmup time.Duration
	// MaxInFlight is each trial's Load.MaxInFlight. Default: DefaultMaxInFlight.
	MaxInFlight int
	// Drain is each trial's Load.Drain. Default: twice Criterion.MaxP99.
	Drain time.Duration
	// Criterion judges each trial. Default: the zero Criterion, its defaults applied.
	Criterion Criterion
	// OnTrial, when set, is called with each judged trial, for progress reports.
	OnTrial func(Trial)
}

func (s *Search) setDefaults() {
	s.Criterion.setDefaults()
	if s.From == 0 {
		s.From = DefaultFrom
	}
	if s.Max == 0 {
		s.Max = DefaultMaxRate
	}
	if s.Min == 0 {
		s.Min = DefaultMinRate
	}
	if s.Step == 0 {
		s.Step = DefaultStep
	}
	if s.Precision == 0 {
		s.Precision = DefaultPrecision
	}
	if s.MaxTrials == 0 {
		s.MaxTrials = DefaultMaxTrials
	}
	if s.Trial == 0 {
		s.Trial = DefaultTrialDuration
	}
	if s.Warmup == 0 {
		s.Warmup = DefaultWarmup
	}
	if s.MaxInFlight == 0 {
		s.MaxInFlight = DefaultMaxInFlight
	}
	if s.Drain == 0 {
		s.Drain = 2 * s.Criterion.MaxP99
	}
}

// Validate reports every problem of the search at once.
func (s Search) Validate() error {
	var errs []error
	if !(s.Min > 0) || !(s.From >= s.Min) || !(s.Max >= s.From) || math.IsInf(s.Max, 0) {
		errs = append(errs, fmt.Errorf("rates must satisfy 0 < min ≤ from ≤ max < inf, got min %v, from %v, max %v", s.Min, s.From, s.Max))
	}
	if !(s.Step > 1) {
		errs = append(errs, fmt.Errorf("step must be > 1, got %v", s.Step))
	}
	if !(s.Precision > 0) {
		errs = append(errs, fmt.Errorf("precision must be positive, got %v", s.Precision))
	}
	if s.MaxTrials < 1 {
		errs = append(errs, fmt.Errorf("max trials must be at least 1, got %d", s.MaxTrials))
	}
	if s.Trial <= 0 || s.Warmup < 0 || s.Drain < 0 || s.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("trial must be positive and warmup, drain, max in flight not negative, got %s, %s, %s, %d", s.Trial, s.Warmup, s.Drain, s.MaxInFlight))
	}
	errs = append(errs, s.Criterion.Validate())
	return errors.Join(errs...)
}

// TrialFunc runs the system under load (its Progress left for the system to set) and
// reports what happened. Pass and Reason are left to FindMax. An error means the trial could
// not be run at all (the system failed to start), not that it fell behind.
type TrialFunc func(ctx context.Context, load Load) (Trial, error)

// FindMax searches for the highest offered rate at which the system keeps up, as judged by
// s.Criterion. It starts at From and multiplies the rate by Step while trials pass (up to
// Max), or divides it while they fail before any has passed (down to Min); once it has a
// passing rate below a failing one it bisects between the highest pass and the lowest
// failure above it until they are within Precision, or MaxTrials have run. best is the
// highest passing trial; trials lists every trial in the order run. A pass at Max means
// "at least Max". FindMax returns ErrNoPass if nothing passed, and the TrialFunc's or ctx's
// error if a trial could not run.
func FindMax(ctx context.Context, s Search, trial TrialFunc) (best Trial, trials []Trial, err error) {
	s.setDefaults()
	if err := s.Validate(); err != nil {
		return Trial{}, nil, fault.Permanent(fmt.Errorf("invalid search: %w", err))
	}
	var pass, fail float64 // highest passing rate, lowest failing rate above it; 0 = none yet
	rate := s.From
	for len(trials) < s.MaxTrials {
		if err := ctx.Err(); err != nil {
			return best, trials, err
		}
		t, err := trial(ctx, Load{Rate: rate, Duration: s.Trial, Warmup: s.Warmup, MaxInFlight: s.MaxInFlight, Drain: s.Drain})
		if err != nil {
			return best, trials, fmt.Errorf("trial at %.0f/s: %w", rate, err)
		}
		t.Rate = rate
		t.Pass, t.Reason = s.Criterion.Judge(t)
		trials = append(trials, t)
		if s.OnTrial != nil {
			s.OnTrial(t)
		}
		if t.Pass {
			if rate > pass {
				pass, best = rate, t
			}
			if fail != 0 && fail <= pass {
				fail = 0 // noise: a pass above an earlier failure; search upward again
			}
		} else if rate > pass && (fail == 0 || rate < fail) {
			fail = rate // a failure below the highest pass is noise and is ignored
		}
		switch {
		case pass == 0 && rate <= s.Min:
			return best, trials, fmt.Errorf("lowest rate %.0f/s: %w", rate, ErrNoPass)
		case pass == 0:
			rate = max(rate/s.Step, s.Min)
		case fail == 0 && pass >= s.Max:
			return best, trials, nil
		case fail == 0:
			rate = min(pass*s.Step, s.Max)
		case (fail-pass)/pass <= s.Precision:
			return best, trials, nil
		default:
			rate = (pass + fail) / 2
		}
	}
	if pass == 0 {
		return best, trials, fmt.Errorf("after %d trials: %w", len(trials), ErrNoPass)
	}
	return best, trials, nil
}
