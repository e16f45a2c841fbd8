package action_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

func TestPlanner_marks_a_drift_in_an_approved_changes_window_planned(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	srv := servicenowfake.Start(t, snCreds)
	chg := srv.Create(t, servicenowfake.TableChangeRequest, map[string]string{
		"cmdb_ci": "web-1", "approval": "approved", "state": "-1", "short_description": "upgrade nginx",
		"start_date": t0.Add(-time.Hour).Format(time.DateTime), "end_date": t0.Add(time.Hour).Format(time.DateTime),
	})["number"]
	calendar, err := servicenow.New(servicenow.Config{Instance: srv.URL(), Username: snCreds.Username, Password: snCreds.Password, CIsInCMDB: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := action.NewPlanner(action.PlannerDeps{Store: openStore(t), Now: func() time.Time { return t0.Add(time.Minute) }, Changes: calendar})
	if err != nil {
		t.Fatal(err)
	}
	detected := func(id, ci string, at time.Time) event.DriftDetected_v1 {
		return event.DriftDetected_v1{DriftID: id, CIID: ci, Field: "/packages/nginx", ActionType: drift.ActionManualReview, AutoChangeRequest: true, DetectedAt: at}
	}
	plan := func(d event.DriftDetected_v1) (planned *event.DriftPlanned_v1, actions int) {
		t.Helper()
		out, err := p.Handle(t.Context(), event.Message[event.DriftDetected_v1]{ID: "in-" + d.DriftID, Fact: d})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			switch f := r.Fact.(type) {
			case event.DriftPlanned_v1:
				planned = &f
			case event.ActionRequested_v1:
				actions++
			}
		}
		return planned, actions
	}

	f, actions := plan(detected("d-1", "web-1", t0))
	if f == nil || f.Change != chg || f.DriftID != "d-1" || f.WindowStart == nil || !f.WindowStart.Equal(t0.Add(-time.Hour)) ||
		f.WindowEnd == nil || !f.WindowEnd.Equal(t0.Add(time.Hour)) || !strings.Contains(f.Reason, chg) || !strings.Contains(f.Reason, "upgrade nginx") {
		t.Fatalf("a drift in the window: planned %+v", f)
	}
	if actions != 1 {
		t.Errorf("a planned drift is planned for as any other: %d action requests, want its change request", actions)
	}
	if change, err := p.PlannedChange(t.Context(), detected("d-1", "web-1", t0)); err != nil || change != chg {
		t.Errorf("PlannedChange = %q, %v; want %s", change, err, chg)
	}
	if f, _ := plan(detected("d-2", "web-1", t0.Add(2*time.Hour))); f != nil {
		t.Errorf("a drift after the window is planned: %+v", f)
	}
	if f, _ := plan(detected("d-3", "db-1", t0)); f != nil {
		t.Errorf("a drift of another CI is planned: %+v", f)
	}
	// A calendar that cannot be read leaves the drift unplanned rather than stalling it.
	srv.Inject(servicenowfake.Fault{Method: http.MethodGet, Table: servicenowfake.TableChangeRequest, Status: http.StatusServiceUnavailable})
	if f, actions := plan(detected("d-4", "web-1", t0)); f != nil || actions != 1 {
		t.Errorf("with the calendar down: planned %+v, %d actions; want unplanned and acted on", f, actions)
	}
}

// countingChanges answers every CI with one change, open 10s either side of the time asked,
// and counts the questions.
type countingChanges struct {
	asked atomic.Int32
	fail  atomic.Bool
}

func (c *countingChanges) InWindow(_ context.Context, ciID string, at time.Time) ([]action.Change, error) {
	c.asked.Add(1)
	if c.fail.Load() {
		return nil, errors.New("calendar down")
	}
	return []action.Change{{Number: "CHG-" + ciID, Start: at.Add(-10 * time.Second), End: at.Add(10 * time.Second)}}, nil
}

func TestCacheChanges_asks_once_per_ci_within_its_ttl(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now := t0
	next := &countingChanges{}
	c := action.CacheChanges(next, time.Minute, func() time.Time { return now })
	ask := func(ci string, at time.Time, want int, questions int32) {
		t.Helper()
		got, err := c.InWindow(t.Context(), ci, at)
		if err != nil || len(got) != want || next.asked.Load() != questions {
			t.Fatalf("%s at %s: %+v, %v after %d questions; want %d change(s) after %d", ci, at.Sub(t0), got, err, next.asked.Load(), want, questions)
		}
	}
	ask("web", t0, 1, 1)
	ask("web", t0.Add(5*time.Second), 1, 1)  // cached, and the window holds
	ask("web", t0.Add(30*time.Second), 0, 1) // cached, and the window has ended
	ask("db", t0, 1, 2)                      // another CI is asked about
	ask("web", t0.Add(2*time.Minute), 1, 3)  // a time far from the one asked before
	now = t0.Add(time.Minute)
	ask("web", t0.Add(2*time.Minute), 1, 4) // the answer is a minute old
	next.fail.Store(true)
	now = now.Add(time.Hour)
	for range 2 {
		if _, err := c.InWindow(t.Context(), "web", now); err == nil {
			t.Fatal("an error was hidden or cached")
		}
	}
	if n := next.asked.Load(); n != 6 {
		t.Errorf("%d questions, want 6: errors are not cached", n)
	}
}

// gatedChanges answers every CI with one change once gate is closed, counts the questions,
// and notes whether a query's context had ended by the time it answered.
type gatedChanges struct {
	asked atomic.Int32
	gate  chan struct{}
	ended atomic.Bool
}

func (c *gatedChanges) InWindow(ctx context.Context, ciID string, at time.Time) ([]action.Change, error) {
	c.asked.Add(1)
	<-c.gate
	c.ended.Store(ctx.Err() != nil)
	return []action.Change{{Number: "CHG-" + ciID, Start: at.Add(-10 * time.Second), End: at.Add(10 * time.Second)}}, nil
}

func TestCacheChanges_shares_one_query_among_askers_at_once(t *testing.T) {
	t.Parallel()
	next := &gatedChanges{gate: make(chan struct{})}
	c := action.CacheChanges(next, time.Minute, time.Now)
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	// The first asker gives up while the query runs; the others still get its answer.
	first, giveUp := context.WithCancel(t.Context())
	results := make(chan error, 8)
	go func() {
		_, err := c.InWindow(first, "web", at)
		results <- err
	}()
	for next.asked.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for range 7 {
		go func() {
			got, err := c.InWindow(t.Context(), "web", at)
			if err == nil && len(got) != 1 {
				err = fmt.Errorf("%d changes, want 1", len(got))
			}
			results <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // the others join the query
	giveUp()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Fatalf("the asker that gave up: %v, want context.Canceled", err)
	}
	close(next.gate)
	for range 7 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if n := next.asked.Load(); n != 1 {
		t.Errorf("%d queries for 8 askers at once, want 1", n)
	}
	if next.ended.Load() {
		t.Error("the query was canceled with the asker that gave up")
	}
}
