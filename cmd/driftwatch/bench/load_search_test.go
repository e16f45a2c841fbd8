package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// thresholdSystem is a fake TrialFunc that keeps up to capacity and completes half of what
// is offered above it, so the search's steps can be checked without timing.
func thresholdSystem(capacity float64, rates *[]float64) TrialFunc {
	return func(_ context.Context, load Load) (Trial, error) {
		*rates = append(*rates, load.Rate)
		tr := Trial{Rate: load.Rate, Offered: uint64(load.Rate * load.Duration.Seconds()), Latency: LatencySummary{P99: time.Millisecond}}
		tr.Completed = tr.Offered
		if load.Rate > capacity {
			tr.Completed, tr.BacklogGrowth = tr.Offered/2, load.Rate/2
		}
		return tr, nil
	}
}

func TestFindMaxSearch(t *testing.T) {
	t.Parallel()

	t.Run("doubles_then_bisects_to_within_the_precision", func(t *testing.T) {
		t.Parallel()
		var rates []float64
		best, trials, err := FindMax(context.Background(), Search{From: 100, Trial: time.Second}, thresholdSystem(1234, &rates))
		if err != nil {
			t.Fatal(err)
		}
		want := []float64{100, 200, 400, 800, 1600, 1200, 1400, 1300, 1250}
		if len(rates) != len(want) {
			t.Fatalf("rates tried %v, want %v", rates, want)
		}
		for i := range want {
			if rates[i] != want[i] {
				t.Fatalf("rates tried %v, want %v", rates, want)
			}
		}
		if best.Rate != 1200 || !best.Pass || len(trials) != len(want) {
			t.Errorf("best %v after %d trials, want 1200 passing", best, len(trials))
		}
		for _, tr := range trials {
			if tr.Pass != (tr.Rate <= 1234) {
				t.Errorf("trial at %.0f judged %v (%s)", tr.Rate, tr.Pass, tr.Reason)
			}
		}
	})

	t.Run("steps_down_when_the_first_rate_fails", func(t *testing.T) {
		t.Parallel()
		var rates []float64
		best, _, err := FindMax(context.Background(), Search{From: 1000, Trial: time.Second, Precision: 0.1}, thresholdSystem(300, &rates))
		if err != nil {
			t.Fatal(err)
		}
		if rates[0] != 1000 || rates[1] != 500 || rates[2] != 250 || best.Rate < 250 || best.Rate > 300 {
			t.Errorf("rates tried %v, best %.0f: want 1000, 500, 250 then a bisection under 300", rates, best.Rate)
		}
	})

	t.Run("stops_at_max_when_everything_passes", func(t *testing.T) {
		t.Parallel()
		var rates []float64
		best, trials, err := FindMax(context.Background(), Search{From: 1000, Max: 3000, Trial: time.Second}, thresholdSystem(1e9, &rates))
		if err != nil {
			t.Fatal(err)
		}
		if best.Rate != 3000 || len(trials) != 3 {
			t.Errorf("rates tried %v, best %.0f, want 1000 2000 3000", rates, best.Rate)
		}
	})

	t.Run("reports_no_pass_when_even_the_minimum_fails", func(t *testing.T) {
		t.Parallel()
		var rates []float64
		_, trials, err := FindMax(context.Background(), Search{From: 40, Min: 10, Trial: time.Second}, thresholdSystem(1, &rates))
		if !errors.Is(err, ErrNoPass) || len(trials) != 3 {
			t.Errorf("err %v after rates %v, want ErrNoPass after 40, 20, 10", err, rates)
		}
	})

	t.Run("returns_a_trial_that_cannot_run_as_an_error", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("redis down")
		_, _, err := FindMax(context.Background(), Search{}, func(context.Context, Load) (Trial, error) { return Trial{}, boom })
		if !errors.Is(err, boom) {
			t.Errorf("err %v, want %v", err, boom)
		}
	})

	t.Run("refuses_an_invalid_search", func(t *testing.T) {
		t.Parallel()
		_, _, err := FindMax(context.Background(), Search{From: 10, Max: 5, Step: 0.5}, nil)
		if !fault.IsPermanent(err) {
			t.Errorf("err %v, want a permanent error", err)
		}
	})
}

// tokenBucket is a synthetic system with a known capacity: a FIFO server that completes one
// item every 1/rate (burst 1). A send returns when its item is served.
type tokenBucket struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func (b *tokenBucket) send(ctx context.Context, _ uint64) error {
	b.mu.Lock()
	now := time.Now()
	if b.next.Before(now) {
		b.next = now
	}
	at := b.next
	b.next = b.next.Add(b.interval)
	b.mu.Unlock()
	return sleepUntil(ctx, at)
}

func TestFindMaxFindsTheKneeOfATokenBucket(t *testing.T) {
	t.Parallel()
	// Off the search's grid (200, 400, 800, then bisection), so that no trial sits exactly
	// at the knee before one below it has passed.
	capacity := 650.0
	s := Search{
		From: 200, Precision: 0.1, Trial: time.Second, Warmup: 100 * time.Millisecond,
		Drain: 300 * time.Millisecond,
	}
	best, trials, err := FindMax(context.Background(), s, func(ctx context.Context, load Load) (Trial, error) {
		b := &tokenBucket{interval: time.Duration(float64(time.Second) / capacity)}
		return Drive(ctx, load, b.send).Trial(), nil
	})
	for _, tr := range trials {
		t.Log(tr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if best.Rate < 0.8*capacity || best.Rate > 1.2*capacity {
		t.Errorf("found %.0f/s, want %.0f/s ± 20%%", best.Rate, capacity)
	}
}
