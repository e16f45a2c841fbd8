package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
	"github.com/driftwatch/driftwatch/pipeline/topic"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// detected is a drift on ci's field, detected minutes after now.
func detected(id, ci, field string, sev drift.Severity, cat drift.Category, minutes int) event.DriftDetected_v1 {
	return event.DriftDetected_v1{
		DriftID: id, CIID: ci, CIType: "vm", PolicyID: "p1", ObservationID: "obs-" + id, Field: field,
		Desired: json.RawMessage(`"on"`), Actual: json.RawMessage(`"off"`),
		Patch:    json.RawMessage(`[{"op":"replace","path":"` + field + `","value":"off"}]`),
		Category: cat, Severity: sev, DetectedAt: now.Add(time.Duration(minutes) * time.Minute),
	}
}

// listing is the body of GET /drift/events.
type listing struct {
	Items      []drifts.Drift `json:"items"`
	Total      int            `json:"total"`
	NextCursor string         `json:"next_cursor"`
}

func TestDriftEvents(t *testing.T) {
	t.Parallel()

	f := newFixture(t)
	f.record(
		detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0),
		detected("d2", "vm-1", "/cpu_count", drift.SeverityLow, drift.CategoryConfiguration, 1),
		detected("d3", "vm-2", "/network", drift.SeverityCritical, drift.CategoryNetwork, 2),
		event.DriftResolved_v1{DriftID: "d3", CIID: "vm-2", Reason: "matches", ResolvedAt: now},
		event.ActionSucceeded_v1{ActionID: "a1", Kind: drift.ActionKindChangeRequest, CIID: "vm-1", DriftID: "d2",
			Ticket: &event.TicketRef{Kind: "change_request", ID: "0a1b", Number: "CHG0030001"}},
	)

	t.Run("shows_the_number_of_a_drifts_change_request", func(t *testing.T) {
		t.Parallel()
		var d map[string]any
		f.do("GET", "/drift/events/d2", "", nil).want(t, http.StatusOK, &d)
		if d["ticket"] != "CHG0030001" || d["status"] != "open" {
			t.Fatalf("drift: %v", d)
		}
	})

	t.Run("lists_in_detection_order_and_pages_with_a_cursor", func(t *testing.T) {
		t.Parallel()
		var first, second listing
		f.do("GET", "/drift/events?limit=2", "", nil).want(t, http.StatusOK, &first)
		if len(first.Items) != 2 || first.Items[0].ID != "d1" || first.Total != 3 || first.NextCursor == "" {
			t.Fatalf("first page: %+v", first)
		}
		f.do("GET", "/drift/events?limit=2&cursor="+url.QueryEscape(first.NextCursor), "", nil).want(t, http.StatusOK, &second)
		if len(second.Items) != 1 || second.Items[0].ID != "d3" || second.NextCursor != "" {
			t.Fatalf("second page: %+v", second)
		}
	})

	t.Run("filters_by_status_ci_category_and_severity", func(t *testing.T) {
		t.Parallel()
		cases := map[string]string{
			"status=open":                    "d1 d2",
			"status=resolved":                "d3",
			"ci=vm-1&severity=low":           "d2",
			"category=network":               "d3",
			"category=state&status=open":     "d1",
			"ci=vm-2&status=acknowledged":    "",
			"severity=critical&ci=vm-2":      "d3",
			"category=firmware&severity=low": "",
		}
		for q, want := range cases {
			var l listing
			f.do("GET", "/drift/events?"+q, "", nil).want(t, http.StatusOK, &l)
			got := ""
			for i, d := range l.Items {
				if i > 0 {
					got += " "
				}
				got += d.ID
			}
			if got != want || l.Total != len(l.Items) {
				t.Fatalf("?%s: got %q (total %d), want %q", q, got, l.Total, want)
			}
		}
	})

	t.Run("names_every_invalid_query_parameter", func(t *testing.T) {
		t.Parallel()
		f.do("GET", "/drift/events?status=closed&severity=urgent&category=x&limit=0", "", nil).
			problem(t, http.StatusBadRequest, "status", "severity", "category", "limit")
		f.do("GET", "/drift/events?stauts=open", "", nil).problem(t, http.StatusBadRequest, "stauts")
		f.do("GET", "/drift/events?cursor=bogus", "", nil).problem(t, http.StatusBadRequest, "cursor")
		f.do("GET", "/drift/events?limit=100000", "", nil).problem(t, http.StatusBadRequest, "limit")
	})

	t.Run("gets_one_drift_or_a_404_problem", func(t *testing.T) {
		t.Parallel()
		var d drifts.Drift
		f.do("GET", "/drift/events/d1", "", nil).want(t, http.StatusOK, &d)
		if d.ID != "d1" || d.Status != drift.StatusOpen || string(d.Actual) != `"off"` {
			t.Fatalf("drift: %+v", d)
		}
		f.do("GET", "/drift/events/nope", "", nil).problem(t, http.StatusNotFound)
	})

	t.Run("shows_the_drift_status_of_a_ci", func(t *testing.T) {
		t.Parallel()
		var ci drifts.CI
		f.do("GET", "/drift/cis/vm-1", "", nil).want(t, http.StatusOK, &ci)
		if ci.OpenDrifts != 2 || ci.WorstOpenSeverity != drift.SeverityHigh {
			t.Fatalf("ci: %+v", ci)
		}
		f.do("GET", "/drift/cis/vm-9", "", nil).problem(t, http.StatusNotFound)
	})
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()

	t.Run("acknowledges_publishes_and_answers_with_the_updated_drift", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0))
		var d drifts.Drift
		f.do("POST", "/drift/events/d1/acknowledge", "application/json", `{"by":"ann","comment":"on it"}`).want(t, http.StatusOK, &d)
		if d.Status != drift.StatusAcknowledged || d.AcknowledgedBy != "ann" || d.AckComment != "on it" || !d.AcknowledgedAt.Equal(now) {
			t.Fatalf("acknowledged drift: %+v", d)
		}
		msgs := f.pub.published(topic.DriftAcknowledged)
		if len(msgs) != 1 || msgs[0].UUID != event.DeriveID("drift-acknowledged", "d1") {
			t.Fatalf("published %d acknowledgements", len(msgs))
		}
		recs, err := f.store.ReadStream(t.Context(), ledger.Stream("vm-1"), 0, 10)
		if err != nil || len(recs) != 2 {
			t.Fatalf("ledger holds %d events (%v), want detected and acknowledged", len(recs), err)
		}
	})

	t.Run("answers_200_unchanged_when_acknowledged_already", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0))
		f.do("POST", "/drift/events/d1/acknowledge", "", nil).want(t, http.StatusOK, nil)
		var d drifts.Drift
		f.do("POST", "/drift/events/d1/acknowledge", "application/json", `{"by":"bob"}`).want(t, http.StatusOK, &d)
		if d.Status != drift.StatusAcknowledged || d.AcknowledgedBy != "" {
			t.Fatalf("second acknowledgement changed the drift: %+v", d)
		}
		if recs, _ := f.store.ReadStream(t.Context(), ledger.Stream("vm-1"), 0, 10); len(recs) != 2 {
			t.Fatalf("ledger holds %d events, want 2", len(recs))
		}
	})

	t.Run("refuses_a_resolved_drift_with_409_and_an_unknown_one_with_404", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0),
			event.DriftResolved_v1{DriftID: "d1", CIID: "vm-1", Reason: "matches", ResolvedAt: now})
		f.do("POST", "/drift/events/d1/acknowledge", "", nil).problem(t, http.StatusConflict)
		f.do("POST", "/drift/events/nope/acknowledge", "", nil).problem(t, http.StatusNotFound)
		f.do("POST", "/drift/events/d1/acknowledge", "application/json", `{"who":"x"}`).problem(t, http.StatusBadRequest, "who")
	})

	t.Run("decides_again_when_another_writer_changed_the_ledger_first", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0))
		f.mem.FailAppend = fmt.Errorf("commit: %w", &eventstore.WrongRevisionError{Stream: ledger.Stream("vm-1"), Expected: 0, Actual: 1})
		var d drifts.Drift
		f.do("POST", "/drift/events/d1/acknowledge", "", nil).want(t, http.StatusOK, &d)
		if d.Status != drift.StatusAcknowledged {
			t.Fatalf("drift after a retried commit: %+v", d)
		}
	})

	t.Run("answers_503_and_heals_on_retry_when_publishing_fails", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0))
		f.pub.failWith(errors.New("redis down"))
		f.do("POST", "/drift/events/d1/acknowledge", "", nil).problem(t, http.StatusServiceUnavailable)
		f.pub.failWith(nil)
		f.do("POST", "/drift/events/d1/acknowledge", "", nil).want(t, http.StatusOK, nil)
		if n := len(f.pub.published(topic.DriftAcknowledged)); n != 1 {
			t.Fatalf("published %d acknowledgements after the retry, want 1", n)
		}
	})
}
