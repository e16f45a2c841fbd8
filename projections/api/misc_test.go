package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/topic"
	"github.com/driftwatch/driftwatch/projections/api"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

func observedFact(id, ci, state string) event.ObservationReceived_v1 {
	return event.ObservationReceived_v1{ObservationID: id, CIID: ci, CIType: "vm", TemplateID: "web", Source: "agent",
		ObservedAt: now, ReceivedAt: now, State: json.RawMessage(state)}
}

func TestReconcile(t *testing.T) {
	t.Parallel()

	t.Run("submits_the_last_observed_state_of_every_ci_again", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(observedFact("o1", "vm-1", `{"power_state":"off"}`), observedFact("o2", "vm-2", `{"power_state":"on"}`),
			detected("d1", "vm-3", "/a", drift.SeverityLow, drift.CategoryState, 0))
		var got struct {
			ReconcileID string `json:"reconcile_id"`
			CIs         int    `json:"cis"`
		}
		f.do("POST", "/drift/reconcile", "", nil).want(t, http.StatusAccepted, &got)
		if got.CIs != 2 || got.ReconcileID == "" {
			t.Fatalf("reconcile answer: %+v", got)
		}
		msgs := f.pub.published(topic.Observations)
		if len(msgs) != 2 {
			t.Fatalf("published %d observations, want 2", len(msgs))
		}
		m, err := event.DecodeMessage[event.ObservationSubmitted_v1](msgs[0])
		if err != nil || m.ID != event.DeriveID("reconcile", got.ReconcileID, "vm-1") || m.Fact.Source != "reconcile" ||
			string(m.Fact.State) != `{"power_state":"off"}` || m.Fact.TemplateID != "web" || m.Fact.CIType != "vm" {
			t.Fatalf("reconcile observation: %+v, %v", m, err)
		}
		if err := m.Fact.Validate(); err != nil {
			t.Fatalf("reconcile observation does not validate: %v", err)
		}
	})
}

func TestReportAndHealth(t *testing.T) {
	t.Parallel()

	t.Run("reports_counts_and_the_projection_position", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.record(detected("d1", "vm-1", "/a", drift.SeverityLow, drift.CategoryState, 0),
			detected("d2", "vm-1", "/b", drift.SeverityHigh, drift.CategorySecurity, 0))
		var rep drifts.Report
		f.do("GET", "/drift/report", "", nil).want(t, http.StatusOK, &rep)
		if rep.Total.Open != 2 || rep.ByCIType["vm"].Total != 2 || rep.ByCategory[drift.CategorySecurity].Open != 1 ||
			rep.BySeverity[drift.SeverityLow].Total != 1 || rep.ByStatus[drift.StatusOpen] != 2 {
			t.Fatalf("report: %+v", rep)
		}
		var h struct {
			Status   string `json:"status"`
			Position uint64 `json:"projection_position"`
		}
		f.do("GET", "/healthz", "", nil).want(t, http.StatusOK, &h)
		if h.Status != "ok" || h.Position != uint64(f.runner.Position()) || h.Position == 0 {
			t.Fatalf("healthz: %+v", h)
		}
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()

	t.Run("answers_unknown_paths_and_methods_with_problems", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("GET", "/nowhere", "", nil).problem(t, http.StatusNotFound)
		r := f.do("DELETE", "/drift/events", "", nil)
		r.problem(t, http.StatusMethodNotAllowed)
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Fatalf("allow header %q", r.header.Get("Allow"))
		}
	})

	t.Run("refuses_missing_deps_naming_each", func(t *testing.T) {
		t.Parallel()
		_, err := api.New(api.Config{}, api.Deps{Logger: zap.NewNop()})
		for _, name := range []string{"store", "emitter", "runner", "drifts", "catalog"} {
			if err == nil || !strings.Contains(err.Error(), name+": required") {
				t.Fatalf("new without deps: %v does not name %s", err, name)
			}
		}
	})
}

func TestOnTheBoltStore(t *testing.T) {
	t.Parallel()

	t.Run("serves_a_policy_template_and_acknowledgement_from_the_embedded_store", func(t *testing.T) {
		t.Parallel()
		store, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("open bolt store: %v", err)
		}
		t.Cleanup(func() { _ = store.Close() })
		f := newFixtureOn(t, store, api.Config{})
		f.do("POST", "/drift/policies", "application/json", vmPolicy).want(t, http.StatusCreated, nil)
		f.do("PATCH", "/drift/policies/policy-vm", "application/merge-patch+json", `{"severity":"low"}`).want(t, http.StatusOK, nil)
		f.do("POST", "/templates", "application/json", webTemplate).want(t, http.StatusCreated, nil)
		f.record(detected("d1", "vm-1", "/a", drift.SeverityLow, drift.CategoryState, 0))
		var d drifts.Drift
		f.do("POST", "/drift/events/d1/acknowledge", "application/json", `{"by":"ann"}`).want(t, http.StatusOK, &d)
		if d.Status != drift.StatusAcknowledged {
			t.Fatalf("drift: %+v", d)
		}
	})
}
