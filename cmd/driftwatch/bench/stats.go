package bench

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Unbounded is the latency reported for a quantile that falls among items that never
// completed (dropped by the driver or lost on the way): it is larger than any measured value.
const Unbounded = time.Duration(math.MaxInt64)

// subBits is log2 of the buckets per power of two: 64 buckets, so a recorded value is off by
// at most 1/64 (1.6%) of itself, and the histogram is a fixed 3 776 counters (30 KB) whatever
// the number of samples.
const subBits = 6

const (
	subCount   = 1 << subBits
	numBuckets = subCount + (64-subBits)*subCount
)

// Recorder is a latency histogram with HDR-like log-linear buckets over nanoseconds: exact
// below 64 ns, then 64 buckets per power of two (relative error ≤ 1.6%). Memory is fixed
// (about 30 KB) however many values are recorded. The zero value is not usable; call
// NewRecorder. Record is safe for concurrent use and lock-free.
type Recorder struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Record adds one latency; negative values count as zero.
func (r *Recorder) Record(d time.Duration) {
	v := uint64(max(d, 0))
	r.counts[bucketOf(v)].Add(1)
	r.n.Add(1)
	r.sum.Add(v)
	for {
		m := r.max.Load()
		if int64(v) <= m || r.max.CompareAndSwap(m, int64(v)) {
			return
		}
	}
}

// Count returns how many values were recorded.
func (r *Recorder) Count() uint64 { return r.n.Load() }

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1)), e ≥ subBits
	sub := int(v>>(e-subBits)) - subCount
	return subCount + (e-subBits)*subCount + sub
}

// bucketMid returns the middle of bucket b's range: the value a quantile in it reports.
func bucketMid(b int) uint64 {
	if b < subCount {
		return uint64(b)
	}
	o, sub := (b-subCount)/subCount, (b-subCount)%subCount
	shift := o // e - subBits
	lower := uint64(subCount+sub) << shift
	width := uint64(1) << shift
	return lower + width/2
}

// LatencySummary is the distribution of one set of latencies. Quantiles are over Count+Missing
// items, the missing ones ranking above every measured value: a quantile that falls among them
// is Unbounded.
type LatencySummary struct {
	// Count is the number of measured latencies.
	Count uint64
	// Missing is the number of items that should have completed and did not.
	Missing uint64
	// Mean is the mean of the measured latencies (missing items excluded).
	Mean time.Duration
	// P50, P99 and P999 are the 50th, 99th and 99.9th percentiles.
	P50, P99, P999 time.Duration
	// Max is the largest measured latency, exact; Unbounded when Missing > 0.
	Max time.Duration
}

// Summary returns the distribution so far, counting missing extra items as never completed.
// It may run while values are still being recorded; it then sees some of them.
func (r *Recorder) Summary(missing uint64) LatencySummary {
	var counts [numBuckets]uint64
	var n uint64
	for i := range counts {
		counts[i] = r.counts[i].Load()
		n += counts[i]
	}
	s := LatencySummary{Count: n, Missing: missing, Max: time.Duration(r.max.Load())}
	if n > 0 {
		s.Mean = time.Duration(r.sum.Load() / r.n.Load())
	}
	if missing > 0 {
		s.Max = Unbounded
	}
	s.P50 = quantile(&counts, n, missing, 0.50, s.Max)
	s.P99 = quantile(&counts, n, missing, 0.99, s.Max)
	s.P999 = quantile(&counts, n, missing, 0.999, s.Max)
	return s
}

// quantile returns the value at rank ceil(q·(n+missing)) among n counted values followed by
// missing unbounded ones; it never exceeds ceiling (the exact maximum).
func quantile(counts *[numBuckets]uint64, n, missing uint64, q float64, ceiling time.Duration) time.Duration {
	total := n + missing
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	if rank > n {
		return Unbounded
	}
	var seen uint64
	for b, c := range counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketMid(b)), ceiling)
		}
	}
	return ceiling
}

// String formats the summary on one line, for logs and reports.
func (s LatencySummary) String() string {
	return fmt.Sprintf("p50=%s p99=%s p99.9=%s max=%s n=%d missing=%d",
		fmtLatency(s.P50), fmtLatency(s.P99), fmtLatency(s.P999), fmtLatency(s.Max), s.Count, s.Missing)
}

// fmtLatency prints a latency rounded for humans, "lost" for Unbounded.
func fmtLatency(d time.Duration) string {
	switch {
	case d == Unbounded:
		return "lost"
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond).String()
	default:
		return d.String()
	}
}
