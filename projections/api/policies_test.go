package api_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

const vmPolicy = `{"id":"policy-vm","name":"VM Configuration Drift","ci_type":"vm",
	"monitored_fields":["power_state","cpu_count"],"severity":"high","auto_change_request":true,"notify":["ops@example.com"]}`

const vmPolicyYAML = `id: policy-yaml
ci_type: vm
monitored_fields:
  - power_state
  - /network/0/name
severity: critical
category: security
drift_threshold: 2
`

func TestPolicies(t *testing.T) {
	t.Parallel()

	t.Run("creates_a_policy_from_json_with_defaults_and_serves_it", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var p drift.Policy
		r := f.do("POST", "/drift/policies", "application/json", vmPolicy)
		r.want(t, http.StatusCreated, &p)
		if p.ID != "policy-vm" || p.Severity != drift.SeverityHigh || p.Category != drift.CategoryConfiguration ||
			p.DriftThreshold != 1 || p.ActionType != drift.ActionNone || !p.AutoChangeRequest {
			t.Fatalf("created policy: %+v", p)
		}
		if loc := r.header.Get("Location"); loc != "/drift/policies/policy-vm" {
			t.Fatalf("location %q", loc)
		}
		f.do("GET", "/drift/policies/policy-vm", "", nil).want(t, http.StatusOK, &p)
		var list struct {
			Items []drift.Policy `json:"items"`
		}
		f.do("GET", "/drift/policies", "", nil).want(t, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != "policy-vm" {
			t.Fatalf("policies: %+v", list)
		}
		if got, _ := f.catalog.PolicyFor(t.Context(), "vm-1", "vm", ""); got.ID != "policy-vm" {
			t.Fatalf("the pipeline's lookup does not see the new policy: %q", got.ID)
		}
	})

	t.Run("creates_a_policy_from_yaml", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var p drift.Policy
		f.do("POST", "/drift/policies", "application/yaml", vmPolicyYAML).want(t, http.StatusCreated, &p)
		if p.ID != "policy-yaml" || p.DriftThreshold != 2 || p.Category != drift.CategorySecurity || len(p.MonitoredFields) != 2 {
			t.Fatalf("policy from yaml: %+v", p)
		}
	})

	t.Run("names_an_unknown_key_with_its_line_in_yaml_and_json", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		p := f.do("POST", "/drift/policies", "application/yaml", vmPolicyYAML+"sevrity: low\n").problem(t, http.StatusBadRequest, "sevrity")
		if !strings.Contains(p.Detail, "line 9") || !strings.Contains(p.InvalidParams[0].Reason, "line 9") {
			t.Fatalf("problem does not give the line: %+v", p)
		}
		f.do("POST", "/drift/policies", "application/json", `{"id":"x","ci_type":"vm","auto_remedy":true}`).
			problem(t, http.StatusBadRequest, "auto_remedy")
		f.do("POST", "/drift/policies", "application/yaml", "id: [unclosed\n").problem(t, http.StatusBadRequest)
		f.do("POST", "/drift/policies", "text/plain", "id: x").problem(t, http.StatusUnsupportedMediaType)
	})

	t.Run("names_every_invalid_field", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/drift/policies", "application/json",
			`{"id":" ","severity":"urgent","category":"mood","action_type":"pray","drift_threshold":-1,"ignore":["x"]}`).
			problem(t, http.StatusBadRequest, "id", "ci_type", "severity", "category", "action_type", "drift_threshold", "ignore[0]")
	})

	t.Run("keeps_selector_rules_exceptions_and_windows_from_yaml", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var p drift.Policy
		f.do("POST", "/drift/policies", "application/yaml", `id: web
ci_type: vm
ci_ids: ["web-*"]
ignore: ["/interfaces/*/mtu"]
detect_only: true
rules:
  - {field: "/files/*", severity: critical, category: security}
exceptions:
  - field: /power_state
    value: stopped
    expires_at: 2026-03-04T12:00:00Z
    ticket: CHG0042
    reason: migration
maintenance_windows:
  - {days: [sat, sun], start: "02:00", duration: 2h}
  - {from: 2026-03-10T22:00:00Z, to: 2026-03-11T02:00:00Z}
`).want(t, http.StatusCreated, &p)
		if len(p.CIIDs) != 1 || !p.DetectOnly || len(p.Rules) != 1 || p.Rules[0].Severity != drift.SeverityCritical ||
			len(p.Exceptions) != 1 || string(p.Exceptions[0].Value) != `"stopped"` || p.Exceptions[0].ExpiresAt.Hour() != 12 ||
			len(p.MaintenanceWindows) != 2 || p.MaintenanceWindows[1].To.Hour() != 2 {
			t.Fatalf("policy from yaml: %+v", p)
		}
	})

	t.Run("refuses_a_bad_policy_whole_naming_each_nested_field", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/drift/policies", "application/json", `{"id":"p","ci_type":"vm","ci_ids":["["],
			"rules":[{"field":"/a"}],"exceptions":[{"field":"/a","value":1,"ticket":"T","reason":"r"}],
			"maintenance_windows":[{"days":["mon"],"start":"02:00","duration":"0s"},{"from":"2026-03-04T12:00:00Z"}]}`).
			problem(t, http.StatusBadRequest, "ci_ids[0]", "rules[0]", "exceptions[0].expires_at",
				"maintenance_windows[0].duration", "maintenance_windows[1].to")
		f.do("GET", "/drift/policies/p", "", nil).problem(t, http.StatusNotFound)
	})

	t.Run("refuses_an_existing_id_with_409", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/drift/policies", "application/json", vmPolicy).want(t, http.StatusCreated, nil)
		f.do("POST", "/drift/policies", "application/json", vmPolicy).problem(t, http.StatusConflict)
		f.do("GET", "/drift/policies/nope", "", nil).problem(t, http.StatusNotFound)
	})
}

func TestPatchPolicy(t *testing.T) {
	t.Parallel()

	// created returns a fixture holding policy-vm.
	created := func(t *testing.T) *fixture {
		f := newFixture(t)
		f.do("POST", "/drift/policies", "application/json", vmPolicy).want(t, http.StatusCreated, nil)
		return f
	}

	t.Run("applies_a_merge_patch", func(t *testing.T) {
		t.Parallel()
		f := created(t)
		var p drift.Policy
		f.do("PATCH", "/drift/policies/policy-vm", "application/merge-patch+json",
			`{"severity":"critical","notify":null,"auto_remediate":true}`).want(t, http.StatusOK, &p)
		if p.Severity != drift.SeverityCritical || p.Notify != nil || !p.AutoRemediate || p.Name != "VM Configuration Drift" {
			t.Fatalf("merge-patched policy: %+v", p)
		}
		f.do("PATCH", "/drift/policies/policy-vm", "application/merge-patch+json", `{"severity":null}`).want(t, http.StatusOK, &p)
		if p.Severity != drift.SeverityMedium {
			t.Fatalf("a removed severity gets its default: %+v", p)
		}
	})

	t.Run("applies_a_json_patch", func(t *testing.T) {
		t.Parallel()
		f := created(t)
		var p drift.Policy
		f.do("PATCH", "/drift/policies/policy-vm", "application/json-patch+json", `[
			{"op":"test","path":"/severity","value":"high"},
			{"op":"add","path":"/monitored_fields/-","value":"memory_mb"},
			{"op":"replace","path":"/drift_threshold","value":2},
			{"op":"remove","path":"/notify"}]`).want(t, http.StatusOK, &p)
		if p.DriftThreshold != 2 || len(p.MonitoredFields) != 3 || p.MonitoredFields[2] != "memory_mb" || p.Notify != nil {
			t.Fatalf("json-patched policy: %+v", p)
		}
		if got, _ := f.catalog.Policy("policy-vm"); got.DriftThreshold != 2 {
			t.Fatalf("the catalog does not show the patch: %+v", got)
		}
	})

	t.Run("refuses_bad_patches_naming_the_problem", func(t *testing.T) {
		t.Parallel()
		f := created(t)
		cases := []struct {
			mediaType, patch string
			params           []string
		}{
			{"application/json-patch+json", `[{"op":"spam","path":"/name"}]`, []string{"body"}},
			{"application/json-patch+json", `[{"op":"add","path":"/name"}]`, []string{"body"}},
			{"application/json-patch+json", `[{"op":"test","path":"/severity","value":"low"}]`, []string{"body"}},
			{"application/json-patch+json", `{"op":"add"}`, []string{"body"}},
			{"application/json-patch+json", `[{"op":"add","path":"/colour","value":"red"}]`, []string{"colour"}},
			{"application/merge-patch+json", `{"severity":"urgent","drift_threshold":-1}`, []string{"severity", "drift_threshold"}},
			{"application/merge-patch+json", `{"id":"other"}`, []string{"id"}},
			{"application/merge-patch+json", `{"severity":`, []string{"body"}},
		}
		for _, c := range cases {
			p := f.do("PATCH", "/drift/policies/policy-vm", c.mediaType, c.patch).problem(t, http.StatusBadRequest, c.params...)
			if p.Detail == "" {
				t.Fatalf("patch %s: problem without detail", c.patch)
			}
		}
		var p drift.Policy
		f.do("GET", "/drift/policies/policy-vm", "", nil).want(t, http.StatusOK, &p)
		if p.Severity != drift.SeverityHigh {
			t.Fatalf("a refused patch changed the policy: %+v", p)
		}
	})

	t.Run("answers_404_415_and_409", func(t *testing.T) {
		t.Parallel()
		f := created(t)
		f.do("PATCH", "/drift/policies/nope", "application/merge-patch+json", `{}`).problem(t, http.StatusNotFound)
		f.do("PATCH", "/drift/policies/policy-vm", "application/json", `{}`).problem(t, http.StatusUnsupportedMediaType)
		f.mem.FailAppend = fmt.Errorf("append: %w", &eventstore.WrongRevisionError{Stream: "policy-policy-vm", Expected: 0, Actual: 1})
		f.do("PATCH", "/drift/policies/policy-vm", "application/merge-patch+json", `{"severity":"low"}`).problem(t, http.StatusConflict)
	})
}

func TestREADMEPolicyExampleIsAccepted(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "### Policies")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	example, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no yaml example under ### Policies")
	}
	f := newFixture(t)
	var p drift.Policy
	f.do("POST", "/drift/policies", "application/yaml", example).want(t, http.StatusCreated, &p)
	if p.ID != "web-config" || len(p.Exceptions) != 1 || len(p.MaintenanceWindows) != 1 || len(p.Rules) != 2 {
		t.Fatalf("README example read as %+v", p)
	}
	f.do("POST", "/drift/policies/web-config/simulate", "application/yaml", example).want(t, http.StatusOK, nil)
}
