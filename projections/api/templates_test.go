package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

const webTemplate = `{"template_id":"web","resource_type":"vm","template_definition":{"power_state":"on","cpu_count":2}}`

func TestTemplates(t *testing.T) {
	t.Parallel()

	t.Run("creates_a_template_with_its_baseline_hash_and_serves_it", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var tm drift.Template
		f.do("POST", "/templates", "application/json", webTemplate).want(t, http.StatusCreated, &tm)
		want, _ := drift.Hash(json.RawMessage(`{"cpu_count":2,"power_state":"on"}`))
		if tm.ID != "web" || tm.ResourceType != "vm" || tm.BaselineHash != want || !tm.CreatedAt.Equal(now) || !tm.UpdatedAt.Equal(now) {
			t.Fatalf("created template: %+v (want hash %s)", tm, want)
		}
		f.do("GET", "/templates/web", "", nil).want(t, http.StatusOK, &tm)
		var list struct {
			Items []drift.Template `json:"items"`
		}
		f.do("GET", "/templates", "", nil).want(t, http.StatusOK, &list)
		if len(list.Items) != 1 {
			t.Fatalf("templates: %+v", list)
		}
		if got, ok, _ := f.catalog.TemplateFor(t.Context(), "vm", ""); !ok || got.ID != "web" {
			t.Fatalf("the pipeline's lookup does not see the new template")
		}
		f.do("POST", "/templates", "application/json", webTemplate).problem(t, http.StatusConflict)
	})

	t.Run("reads_yaml_bodies_and_definitions_given_as_json_or_yaml_strings", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		want, _ := drift.Hash(json.RawMessage(`{"network":[{"name":"prod"}],"power_state":"on","memory_mb":2048}`))
		bodies := map[string]struct{ mediaType, body string }{
			"yaml-body":   {"application/yaml", "template_id: yaml-body\nresource_type: vm\npriority: 1\ntemplate_definition:\n  power_state: \"on\"\n  memory_mb: 2048\n  network:\n    - name: prod\n"},
			"json-string": {"application/json", `{"template_id":"json-string","resource_type":"vm","priority":2,"template_definition":"{\"power_state\":\"on\",\"memory_mb\":2048,\"network\":[{\"name\":\"prod\"}]}"}`},
			"yaml-string": {"application/json", `{"template_id":"yaml-string","resource_type":"vm","template_definition":"power_state: \"on\"\nmemory_mb: 2048\nnetwork:\n  - name: prod\n"}`},
		}
		for id, b := range bodies {
			var tm drift.Template
			f.do("POST", "/templates", b.mediaType, b.body).want(t, http.StatusCreated, &tm)
			if tm.ID != id || tm.BaselineHash != want {
				t.Fatalf("%s: template %+v, definition %s, want hash %s", id, tm, tm.Definition, want)
			}
		}
	})

	t.Run("names_bad_fields_and_unknown_keys", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/templates", "application/json", `{"template_definition":[1,2]}`).
			problem(t, http.StatusBadRequest, "template_id", "resource_type", "template_definition")
		f.do("POST", "/templates", "application/json", `{"template_id":"t","resource_type":"vm","template_definition":"- a\n- b\n"}`).
			problem(t, http.StatusBadRequest, "template_definition")
		f.do("POST", "/templates", "application/json", `{"template_id":"t","resource_type":"vm","template_definition":{},"owner":"me"}`).
			problem(t, http.StatusBadRequest, "owner")
		p := f.do("POST", "/templates", "application/yaml", "template_id: t\nresource_type: vm\nowner: me\ntemplate_definition: {}\n").
			problem(t, http.StatusBadRequest, "owner")
		if p.InvalidParams[0].Reason != "unknown field at line 3" {
			t.Fatalf("reason %q does not give the line", p.InvalidParams[0].Reason)
		}
	})

	t.Run("puts_creates_then_replaces_keeping_created_at", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var tm drift.Template
		f.do("PUT", "/templates/web", "application/json", `{"resource_type":"vm","template_definition":{"a":1}}`).want(t, http.StatusCreated, &tm)
		created := tm.CreatedAt
		f.do("PUT", "/templates/web", "application/json", `{"template_id":"web","resource_type":"container","template_definition":{"a":2},"baseline_hash":"stale","created_at":"2020-01-01T00:00:00Z"}`).
			want(t, http.StatusOK, &tm)
		if tm.ResourceType != "container" || string(tm.Definition) != `{"a":2}` || !tm.CreatedAt.Equal(created) {
			t.Fatalf("replaced template: %+v", tm)
		}
		f.do("PUT", "/templates/web", "application/json", `{"template_id":"other","resource_type":"vm","template_definition":{}}`).
			problem(t, http.StatusBadRequest, "template_id")
		if _, ok, _ := f.catalog.TemplateFor(t.Context(), "vm", ""); ok {
			t.Fatalf("the vm index still holds the template after its type changed")
		}
	})

	t.Run("deletes_and_then_answers_404", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/templates", "application/json", webTemplate).want(t, http.StatusCreated, nil)
		r := f.do("DELETE", "/templates/web", "", nil)
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		f.do("GET", "/templates/web", "", nil).problem(t, http.StatusNotFound)
		f.do("DELETE", "/templates/web", "", nil).problem(t, http.StatusNotFound)
		f.do("POST", "/templates", "application/json", webTemplate).want(t, http.StatusCreated, nil)
		f.do("GET", "/templates/web", "", nil).want(t, http.StatusOK, nil)
	})
}
