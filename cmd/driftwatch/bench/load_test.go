package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestDrive(t *testing.T) {
	t.Parallel()

	t.Run("issues_every_scheduled_send_once_in_order_and_never_early", func(t *testing.T) {
		t.Parallel()
		load := Load{Rate: 200, Duration: time.Second, Warmup: 200 * time.Millisecond}
		var mu sync.Mutex
		at := map[uint64]time.Time{}
		var early atomic.Int64
		res := Drive(context.Background(), load, func(ctx context.Context, seq uint64) error {
			due := ScheduledAt(ctx)
			if time.Now().Before(due) {
				early.Add(1)
			}
			mu.Lock()
			defer mu.Unlock()
			if _, dup := at[seq]; dup {
				t.Errorf("send %d issued twice", seq)
			}
			at[seq] = due
			return nil
		})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if load.WarmupSends() != 40 || load.TotalSends() != 240 {
			t.Fatalf("schedule has %d warmup and %d total sends, want 40 and 240", load.WarmupSends(), load.TotalSends())
		}
		if len(at) != 240 || res.TotalIssued != 240 || res.TotalSucceeded != 240 {
			t.Errorf("issued %d distinct sends (result: %d issued, %d succeeded), want 240", len(at), res.TotalIssued, res.TotalSucceeded)
		}
		if res.Offered != 200 || res.Issued != 200 || res.Succeeded != 200 || res.Dropped != 0 || res.Failed != 0 {
			t.Errorf("window: offered %d issued %d succeeded %d dropped %d failed %d, want 200 200 200 0 0",
				res.Offered, res.Issued, res.Succeeded, res.Dropped, res.Failed)
		}
		for seq := range uint64(240) {
			want := at[0].Add(time.Duration(seq) * 5 * time.Millisecond)
			if d := at[seq].Sub(want); d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("send %d scheduled at +%s, want +%s", seq, at[seq].Sub(at[0]), want.Sub(at[0]))
			}
		}
		if early.Load() != 0 {
			t.Errorf("%d sends began before they were due", early.Load())
		}
		if !res.Drained || res.SendLatency.Count != 200 || res.SendLatency.Missing != 0 {
			t.Errorf("drained %v, latency %s", res.Drained, res.SendLatency)
		}
		if w := res.MeasureEnd.Sub(res.MeasureStart); w < 990*time.Millisecond || w > 1100*time.Millisecond {
			t.Errorf("measured window %s, want about 1s", w)
		}
	})

	t.Run("measures_an_injected_latency_from_the_scheduled_time", func(t *testing.T) {
		t.Parallel()
		const injected = 20 * time.Millisecond
		load := Load{Rate: 100, Duration: time.Second, Warmup: 100 * time.Millisecond}
		res := Drive(context.Background(), load, func(ctx context.Context, _ uint64) error {
			return sleepUntil(ctx, ScheduledAt(ctx).Add(injected))
		})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		s := res.SendLatency
		if s.P50 < injected-injected/50 || s.P50 > injected+10*time.Millisecond {
			t.Errorf("p50 = %s, want %s (+10ms scheduling slack)", s.P50, injected)
		}
		if s.P99 > injected+50*time.Millisecond || s.Count != 100 {
			t.Errorf("latency %s, want 100 samples with p99 near %s", s, injected)
		}
		// Completions during the window: the warmup's tail replaces the window's own.
		if res.Completed < 95 || res.Completed > 105 {
			t.Errorf("completed %d in the window, want about 100", res.Completed)
		}
		if tr := res.Trial(); tr.Achieved < 90 || tr.Achieved > 110 {
			t.Errorf("achieved %.1f/s, want about 100/s", tr.Achieved)
		}
	})

	t.Run("keeps_sending_while_sends_hang_and_drops_beyond_max_in_flight", func(t *testing.T) {
		t.Parallel()
		load := Load{Rate: 200, Duration: 500 * time.Millisecond, MaxInFlight: 30, Drain: 50 * time.Millisecond}
		res := Drive(context.Background(), load, func(ctx context.Context, _ uint64) error {
			<-ctx.Done() // never completes on its own
			return ctx.Err()
		})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if res.Offered != 100 || res.Issued != 30 || res.Dropped != 70 || res.PeakInFlight != 30 {
			t.Errorf("offered %d issued %d dropped %d peak %d, want 100 30 70 30", res.Offered, res.Issued, res.Dropped, res.PeakInFlight)
		}
		if res.Drained || res.Failed != 30 || !errors.Is(res.FirstError, context.Canceled) {
			t.Errorf("drained %v failed %d first error %v: want the 30 hung sends cancelled after the drain", res.Drained, res.Failed, res.FirstError)
		}
		if res.SendLatency.Missing != 100 || res.SendLatency.P50 != Unbounded {
			t.Errorf("latency %s, want every item missing", res.SendLatency)
		}
		if res.Completed != 0 {
			t.Errorf("completed %d", res.Completed)
		}
	})

	t.Run("counts_completions_and_backlog_by_the_progress_probe", func(t *testing.T) {
		t.Parallel()
		// Sends return at once, but only every other item ever completes downstream.
		var done atomic.Uint64
		load := Load{Rate: 400, Duration: time.Second, Drain: 50 * time.Millisecond,
			Progress: func() uint64 { return done.Load() / 2 }}
		res := Drive(context.Background(), load, func(context.Context, uint64) error {
			done.Add(1)
			return nil
		})
		tr := res.Trial()
		if res.Completed < 180 || res.Completed > 220 || res.Drained {
			t.Errorf("completed %d (drained %v), want about 200 and not drained", res.Completed, res.Drained)
		}
		if tr.BacklogGrowth < 150 || tr.BacklogGrowth > 250 {
			t.Errorf("backlog grows %.1f/s, want about 200/s", tr.BacklogGrowth)
		}
		if tr.BacklogEnd < 150 {
			t.Errorf("backlog ends at %d, want about 200", tr.BacklogEnd)
		}
	})

	t.Run("stops_early_when_the_context_ends", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		res := Drive(ctx, Load{Rate: 100, Duration: time.Minute}, func(context.Context, uint64) error { return nil })
		if !errors.Is(res.Err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("err %v after %s, want the deadline soon", res.Err, time.Since(start))
		}
		if res.TotalIssued == 0 || res.TotalIssued > 30 {
			t.Errorf("issued %d sends in 200ms at 100/s", res.TotalIssued)
		}
	})

	t.Run("refuses_an_invalid_load_naming_every_problem", func(t *testing.T) {
		t.Parallel()
		res := Drive(context.Background(), Load{Rate: -1, Warmup: -time.Second}, func(context.Context, uint64) error {
			t.Error("a send ran")
			return nil
		})
		if !fault.IsPermanent(res.Err) {
			t.Fatalf("err %v, want a permanent error", res.Err)
		}
		for _, want := range []string{"rate", "duration", "warmup"} {
			if !strings.Contains(res.Err.Error(), want) {
				t.Errorf("error %q does not mention %s", res.Err, want)
			}
		}
	})
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func TestCriterion(t *testing.T) {
	t.Parallel()
	healthy := Trial{Rate: 1000, Offered: 10_000, Completed: 9_990, BacklogGrowth: 2,
		Latency: LatencySummary{P99: 40 * time.Millisecond}}
	for _, c := range []struct {
		name   string
		change func(*Trial)
		pass   bool
		reason string
	}{
		{"passes_a_trial_that_keeps_up", func(*Trial) {}, true, ""},
		{"passes_at_exactly_97_percent_completion", func(t *Trial) { t.Completed = 9_700 }, true, ""},
		{"fails_under_97_percent_completion", func(t *Trial) { t.Completed = 9_699 }, false, "completed 9699 of 10000"},
		{"fails_a_backlog_growing_faster_than_3_percent_of_the_rate", func(t *Trial) { t.BacklogGrowth = 31 }, false, "backlog grows"},
		{"fails_a_p99_at_the_bound", func(t *Trial) { t.Latency.P99 = time.Second }, false, "p99 1s"},
		{"fails_lost_items_as_unbounded_latency", func(t *Trial) { t.Latency.P99 = Unbounded }, false, "p99 lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tr := healthy
			c.change(&tr)
			pass, reason := Criterion{}.Judge(tr)
			if pass != c.pass || !strings.Contains(reason, c.reason) {
				t.Errorf("judged %v (%q), want %v (%q)", pass, reason, c.pass, c.reason)
			}
		})
	}

	t.Run("names_every_failure", func(t *testing.T) {
		t.Parallel()
		pass, reason := Criterion{}.Judge(Trial{Rate: 100, Offered: 100, BacklogGrowth: 50, Latency: LatencySummary{P99: Unbounded}})
		if pass || strings.Count(reason, ";") != 2 {
			t.Errorf("judged %v (%q), want three reasons", pass, reason)
		}
	})
}
