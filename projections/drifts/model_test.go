package drifts_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("opens_a_drift_with_every_detail_and_counts_it_against_its_ci", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, 0))
		d := e.mustGet("d1")
		if d.Status != drift.StatusOpen || d.CIID != "vm-1" || d.Field != "/power_state" || d.PolicyID != "p1" ||
			string(d.Actual) != `"off"` || !d.DetectedAt.Equal(base) || len(d.Patch) == 0 {
			t.Fatalf("drift: %+v", d)
		}
		ci := e.mustCI("vm-1")
		if ci.OpenDrifts != 1 || ci.WorstOpenSeverity != drift.SeverityHigh || ci.CIType != "vm" || ci.TemplateID != "t1" {
			t.Fatalf("ci: %+v", ci)
		}
	})

	t.Run("acknowledges_an_open_drift_once", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, 0), acked("d1", "vm-1", "ann"), acked("d1", "vm-1", "bob"))
		d := e.mustGet("d1")
		if d.Status != drift.StatusAcknowledged || d.AcknowledgedBy != "ann" || d.AckComment != "looking" || d.AcknowledgedAt.IsZero() {
			t.Fatalf("drift: %+v", d)
		}
		if ci := e.mustCI("vm-1"); ci.OpenDrifts != 1 {
			t.Fatalf("an acknowledged drift is still unresolved: ci %+v", ci)
		}
	})

	t.Run("resolves_drifts_and_recomputes_the_worst_open_severity", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(
			detected("d1", "vm-1", "/power_state", drift.SeverityCritical, 0),
			detected("d2", "vm-1", "/cpu_count", drift.SeverityLow, 1),
			acked("d1", "vm-1", "ann"),
			resolved("d1", "vm-1"),
			acked("d1", "vm-1", "late"),
		)
		d := e.mustGet("d1")
		if d.Status != drift.StatusResolved || d.ResolutionReason == "" || d.ResolvedAt.IsZero() || d.AcknowledgedBy != "ann" {
			t.Fatalf("drift: %+v", d)
		}
		if ci := e.mustCI("vm-1"); ci.OpenDrifts != 1 || ci.WorstOpenSeverity != drift.SeverityLow {
			t.Fatalf("ci after resolving the critical drift: %+v", ci)
		}
		e.record(resolved("d2", "vm-1"))
		if ci := e.mustCI("vm-1"); ci.OpenDrifts != 0 || ci.WorstOpenSeverity != "" {
			t.Fatalf("ci without unresolved drifts: %+v", ci)
		}
	})

	t.Run("follows_a_remediation_to_escalation_with_its_tickets", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		cr := &event.TicketRef{Kind: "change_request", ID: "s1", Number: "CHG0030001"}
		inc := &event.TicketRef{Kind: "incident", ID: "s2", Number: "INC0010001"}
		e.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, 0),
			event.ActionRequested_v1{ActionID: "a0", Kind: drift.ActionKindChangeRequest, CIID: "vm-1", DriftID: "d1"},
			event.ActionSucceeded_v1{ActionID: "a0", Kind: drift.ActionKindChangeRequest, CIID: "vm-1", DriftID: "d1", Ticket: cr})
		if d := e.mustGet("d1"); d.Status != drift.StatusOpen || d.Ticket != "CHG0030001" {
			t.Fatalf("drift with a change request: %+v", d)
		}
		e.record(acked("d1", "vm-1", "ann"),
			event.ActionRequested_v1{ActionID: "a1", Kind: drift.ActionKindPlaybook, CIID: "vm-1", DriftID: "d1", Attempt: 1},
			event.ActionRequested_v1{ActionID: "a2", Kind: drift.ActionKindPlaybook, CIID: "vm-1", DriftID: "d1", Attempt: 2})
		if d := e.mustGet("d1"); d.Status != drift.StatusRemediating || d.RemediationAttempts != 2 || d.AcknowledgedBy != "ann" {
			t.Fatalf("drift under remediation: %+v", d)
		}
		e.record(event.DriftEscalated_v1{DriftID: "d1", CIID: "vm-1", Attempts: 2, Reason: "still drifted", EscalatedAt: base.Add(time.Hour)},
			event.ActionSucceeded_v1{ActionID: "a3", Kind: drift.ActionKindIncident, CIID: "vm-1", DriftID: "d1", Ticket: inc})
		d := e.mustGet("d1")
		if d.Status != drift.StatusEscalated || d.Incident != "INC0010001" || d.EscalationReason != "still drifted" {
			t.Fatalf("escalated drift: %+v", d)
		}
		if r, err := e.model.Report(); err != nil || r.Total.Escalated != 1 || r.Total.Remediating != 0 || r.ByStatus[drift.StatusEscalated] != 1 {
			t.Fatalf("report: %+v, %v", r, err)
		}
		e.record(resolved("d1", "vm-1"))
		if d := e.mustGet("d1"); d.Status != drift.StatusResolved || d.Ticket != "CHG0030001" || d.Planned {
			t.Fatalf("resolved drift: %+v", d)
		}
		e.record(detected("d2", "vm-1", "/cpu_count", drift.SeverityLow, 5),
			event.DriftPlanned_v1{DriftID: "d2", CIID: "vm-1", Change: "CHG0030001", ByDrift: "d1", Reason: "during d1's remediation"})
		if d := e.mustGet("d2"); !d.Planned || d.PlannedChange != "CHG0030001" {
			t.Fatalf("planned drift: %+v", d)
		}
	})

	t.Run("ignores_a_drift_detected_again_and_facts_about_unknown_drifts", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		again := detected("d1", "vm-1", "/power_state", drift.SeverityLow, 5)
		e.record(detected("d1", "vm-1", "/power_state", drift.SeverityHigh, 0), acked("d1", "vm-1", "ann"), again,
			acked("nope", "vm-1", "ann"), resolved("nope", "vm-1"))
		if d := e.mustGet("d1"); d.Status != drift.StatusAcknowledged || d.Severity != drift.SeverityHigh {
			t.Fatalf("drift detected again: %+v", d)
		}
		if _, ok, _ := e.model.Get("nope"); ok {
			t.Fatalf("an acknowledgement created a drift")
		}
	})
}

func TestObservations(t *testing.T) {
	t.Parallel()

	t.Run("keeps_the_latest_state_with_its_hash", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(observed("o2", "vm-1", `{"power_state":"off","cpu_count":2}`, 2), observed("o1", "vm-1", `{"power_state":"on"}`, 1))
		ci := e.mustCI("vm-1")
		want, _ := drift.Hash(json.RawMessage(`{"cpu_count":2,"power_state":"off"}`))
		if ci.LastObservationID != "o2" || ci.StateHash != want || ci.Source != "agent" || ci.TemplateID != "t1" {
			t.Fatalf("ci after an older observation arrived late: %+v (want hash %s)", ci, want)
		}
	})

	t.Run("shows_the_latest_actual_value_and_keeps_the_first", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		d := detected("d1", "vm-1", "/networks", drift.SeverityHigh, 0)
		e.record(d, event.DriftUpdated_v1{DriftID: "d1", CIID: "vm-1", Field: "/networks", Actual: json.RawMessage(`["lan","rogue","rogue2"]`),
			Patch: json.RawMessage(`[]`), UpdatedAt: base.Add(time.Minute)})
		got := e.mustGet("d1")
		if string(got.Actual) != `["lan","rogue","rogue2"]` || string(got.FirstActual) != string(d.Actual) || got.Updates != 1 || got.Status != drift.StatusOpen {
			t.Fatalf("drift %+v", got)
		}
	})

	t.Run("counts_an_unchanged_observation_as_verifying_the_ci", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		first := observed("o1", "vm-1", `{"a":1}`, 1)
		e.record(first, event.ObservationUnchanged_v1{ObservationID: "o2", CIID: "vm-1", ObservedAt: base.Add(5 * time.Minute), ReceivedAt: base, StateHash: first.StateHash, Repeats: 3})
		ci := e.mustCI("vm-1")
		if ci.LastObservationID != "o2" || !ci.LastObservedAt.Equal(base.Add(5*time.Minute)) || !ci.LastChangedAt.Equal(base.Add(time.Minute)) || ci.StateHash != first.StateHash || ci.CIType != "vm" {
			t.Fatalf("ci %+v", ci)
		}
	})

	t.Run("keeps_the_last_verdict_with_its_desired_state_and_policy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		o := observed("o1", "vm-1", `{"a":1}`, 1)
		e.record(o, event.PolicyEvaluated_v2{Observed: o.Observed, Desired: event.DesiredRef{Source: "template", TemplateID: "t1", Version: 2, Hash: "sha256:d"},
			PolicyID: "p1", PolicyVersion: 3, Differs: []string{"/a"}})
		ev := e.mustCI("vm-1").Evaluation
		if ev == nil || ev.Desired.Version != 2 || ev.PolicyVersion != 3 || ev.StateHash != o.StateHash || ev.Differs != 1 {
			t.Fatalf("evaluation %+v", ev)
		}
	})

	t.Run("lists_every_ci_for_reconcile", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(observed("o1", "vm-2", `{"a":1}`, 1), observed("o2", "vm-1", `{"a":2}`, 1), detected("d1", "vm-3", "/a", drift.SeverityLow, 0))
		cis, err := e.model.CIs()
		h, _ := drift.Hash(json.RawMessage(`{"a":1}`))
		if err != nil || len(cis) != 3 || cis[0].CIID != "vm-1" || cis[1].StateHash != h || cis[2].StateHash != "" {
			t.Fatalf("cis: %+v, %v", cis, err)
		}
	})
}

func TestQueries(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	e.record(
		detected("d3", "vm-1", "/a", drift.SeverityLow, 0),
		detected("d1", "vm-1", "/b", drift.SeverityHigh, 0),
		detected("d2", "vm-2", "/a", drift.SeverityHigh, 1),
		detected("d0", "vm-2", "/b", drift.SeverityCritical, 2),
		acked("d2", "vm-2", "ann"),
		resolved("d3", "vm-1"),
	)

	t.Run("lists_in_detection_order_then_by_id", func(t *testing.T) {
		t.Parallel()
		l, err := e.model.List(drifts.Filter{}, drifts.Page{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if got := ids(l.Items); got != "d1 d3 d2 d0" || l.Total != 4 || l.NextCursor != "" {
			t.Fatalf("list: %s total %d cursor %q", got, l.Total, l.NextCursor)
		}
	})

	t.Run("pages_with_a_cursor_and_keeps_the_total", func(t *testing.T) {
		t.Parallel()
		var got []string
		cursor := ""
		for range 3 {
			l, err := e.model.List(drifts.Filter{}, drifts.Page{Limit: 3, Cursor: cursor})
			if err != nil || l.Total != 4 {
				t.Fatalf("page: total %d, %v", l.Total, err)
			}
			got = append(got, ids(l.Items))
			if cursor = l.NextCursor; cursor == "" {
				break
			}
		}
		if len(got) != 2 || got[0] != "d1 d3 d2" || got[1] != "d0" {
			t.Fatalf("pages: %q", got)
		}
	})

	t.Run("filters_by_status_ci_category_and_severity", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			f    drifts.Filter
			want string
		}{
			{drifts.Filter{Status: drift.StatusOpen}, "d1 d0"},
			{drifts.Filter{CIID: "vm-2"}, "d2 d0"},
			{drifts.Filter{Severity: drift.SeverityHigh, Status: drift.StatusAcknowledged}, "d2"},
			{drifts.Filter{Category: drift.CategoryState, CIID: "vm-1"}, "d1 d3"},
			{drifts.Filter{Category: drift.CategorySecurity}, ""},
		}
		for _, c := range cases {
			l, err := e.model.List(c.f, drifts.Page{Limit: 1})
			if err != nil {
				t.Fatalf("list %+v: %v", c.f, err)
			}
			all := ids(l.Items)
			for l.NextCursor != "" {
				if l, err = e.model.List(c.f, drifts.Page{Limit: 1, Cursor: l.NextCursor}); err != nil {
					t.Fatalf("list %+v: %v", c.f, err)
				}
				all += " " + ids(l.Items)
			}
			if all != c.want {
				t.Fatalf("filter %+v: got %q, want %q", c.f, all, c.want)
			}
		}
	})

	t.Run("refuses_a_cursor_it_did_not_hand_out", func(t *testing.T) {
		t.Parallel()
		if _, err := e.model.List(drifts.Filter{}, drifts.Page{Cursor: "!!"}); !errors.Is(err, drifts.ErrBadCursor) {
			t.Fatalf("bad cursor: got %v, want ErrBadCursor", err)
		}
	})

	t.Run("reports_counts_by_ci_type_category_severity_and_status", func(t *testing.T) {
		t.Parallel()
		r, err := e.model.Report()
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		want := drifts.Counts{Total: 4, Open: 2, Acknowledged: 1, Resolved: 1}
		if r.Total != want || r.ByCIType["vm"] != want || r.ByCategory[drift.CategoryState] != want {
			t.Fatalf("report totals: %+v", r)
		}
		if r.BySeverity[drift.SeverityHigh] != (drifts.Counts{Total: 2, Open: 1, Acknowledged: 1}) ||
			r.ByStatus[drift.StatusOpen] != 2 || r.ByStatus[drift.StatusResolved] != 1 {
			t.Fatalf("report breakdown: %+v", r)
		}
	})
}

func ids(ds []drifts.Drift) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += " "
		}
		s += d.ID
	}
	return s
}
