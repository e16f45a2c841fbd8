package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

func TestTemplatePrecedence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var web drift.Template
	f.do("POST", "/templates", "application/json", webTemplate).want(t, http.StatusCreated, &web)
	if web.Version != 1 {
		t.Fatalf("a new template is version 1: %+v", web)
	}

	const second = `{"template_id":"web-canary","resource_type":"vm","template_definition":{"power_state":"on","cpu_count":4}}`
	p := f.do("POST", "/templates", "application/json", second).problem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, `"web"`) || !strings.Contains(p.Detail, "priority") {
		t.Fatalf("refuses_a_second_template_for_the_same_cis_naming_the_other: %+v", p)
	}
	f.do("PUT", "/templates/web-canary", "application/json", second).problem(t, http.StatusConflict)
	if got, _, _ := f.catalog.TemplateFor(t.Context(), "vm", ""); got.ID != "web" {
		t.Fatalf("the refused template governs: %+v", got)
	}

	var canary drift.Template
	f.do("POST", "/templates", "application/json", strings.Replace(second, `"resource_type":"vm"`, `"resource_type":"vm","priority":10`, 1)).
		want(t, http.StatusCreated, &canary)
	if canary.Priority != 10 {
		t.Fatalf("takes_an_explicit_priority: %+v", canary)
	}
	if got, _, _ := f.catalog.TemplateFor(t.Context(), "vm", ""); got.ID != "web-canary" {
		t.Fatalf("the_highest_priority_governs: %+v", got)
	}
	f.do("PUT", "/templates/web-canary", "application/json", strings.Replace(second, `"resource_type":"vm"`, `"resource_type":"vm","priority":10`, 1)).
		want(t, http.StatusOK, &canary)
	if canary.Version != 2 {
		t.Fatalf("a replacement is the next version: %+v", canary)
	}

	// The CI and its drifts name the template (and version) they were judged against.
	obs := event.Observed{ObservationID: "obs-1", CIID: "web-01", CIType: "vm", ObservedAt: now, StateHash: "h1"}
	d := detected("d1", "web-01", "/cpu_count", drift.SeverityHigh, drift.CategoryConfiguration, 0)
	d.ObservationID, d.TemplateID = "obs-1", "web-canary"
	f.record(
		event.PolicyEvaluated_v2{Observed: obs, Desired: event.DesiredRef{Source: "template", TemplateID: "web-canary", Version: 2, Hash: canary.BaselineHash},
			PolicyID: "default", Differs: []string{"/cpu_count"}},
		d,
	)
	var ci drifts.CI
	f.do("GET", "/drift/cis/web-01", "", nil).want(t, http.StatusOK, &ci)
	if ci.GoverningTemplate == nil || ci.GoverningTemplate.ID != "web-canary" || ci.GoverningTemplate.Version != 2 {
		t.Fatalf("the_ci_names_its_governing_template: %+v", ci.GoverningTemplate)
	}
	var got drifts.Drift
	f.do("GET", "/drift/events/d1", "", nil).want(t, http.StatusOK, &got)
	if got.TemplateID != "web-canary" || got.TemplateVersion != 2 {
		t.Fatalf("the_drift_names_its_template_and_version: %s %d", got.TemplateID, got.TemplateVersion)
	}
}

func TestRemediate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	start := detected("d1", "web-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 0)
	start.ActionType, start.Desired = drift.ActionAutoCorrect, json.RawMessage(`"running"`)
	none := detected("d2", "web-1", "/cpu_count", drift.SeverityLow, drift.CategoryConfiguration, 1)
	gone := detected("d3", "web-2", "/networks", drift.SeverityHigh, drift.CategoryNetwork, 2)
	gone.ActionType = drift.ActionQuarantine
	f.record(start, none, gone, event.DriftResolved_v1{DriftID: "d3", CIID: "web-2", Field: "/networks", Reason: "matches", ResolvedAt: now})

	var a actionAnswer
	f.do(http.MethodPost, "/drift/events/d1/remediate?wait=0", "application/json", map[string]string{"by": "alice", "reason": "now"}).
		want(t, http.StatusAccepted, &a)
	if a.Kind != string(drift.ActionKindStart) || a.Status != "requested" || a.ActionID != event.ActionID("d1", drift.ActionKindStart) {
		t.Fatalf("requests_the_kind_the_policy_names: %+v", a)
	}
	p := f.do(http.MethodPost, "/drift/events/d2/remediate", "", nil).problem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "no remediation") || !strings.Contains(p.Detail, "none") {
		t.Fatalf("says_why_there_is_no_remediation: %+v", p)
	}
	f.do(http.MethodPost, "/drift/events/d3/remediate", "", nil).problem(t, http.StatusConflict)
	f.do(http.MethodPost, "/drift/events/nope/remediate", "", nil).problem(t, http.StatusNotFound)
	f.as = f.secrets[auth.Viewer] // a viewer may not
	f.do(http.MethodPost, "/drift/events/d1/remediate", "", nil).problem(t, http.StatusForbidden)
}
