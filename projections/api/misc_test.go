package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/projections/api"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

func observedFact(id, ci, state string) event.ObservationReceived_v2 {
	h, _ := drift.Hash(json.RawMessage(state))
	return event.ObservationReceived_v2{ReceivedAt: now, Observed: event.Observed{ObservationID: id, CIID: ci, CIType: "vm", TemplateID: "web", Source: "agent",
		ObservedAt: now, StateHash: h}}
}

func TestReconcile(t *testing.T) {
	t.Parallel()

	t.Run("sweeps_and_answers_what_it_compared_and_requested", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var got api.Sweep
		f.do("POST", "/drift/reconcile", "", nil).want(t, http.StatusAccepted, &got)
		if got.CIs != 7 || got.Requested != 2 || got.ReconcileID == "" || len(f.reconciler.reasons) != 1 || f.reconciler.reasons[0] != "reconcile "+got.ReconcileID {
			t.Fatalf("answer %+v, sweeps %v", got, f.reconciler.reasons)
		}
	})

	t.Run("answers_503_when_the_sweep_fails", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.reconciler.fail = errors.New("store down")
		f.do("POST", "/drift/reconcile", "", nil).problem(t, http.StatusServiceUnavailable)
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
