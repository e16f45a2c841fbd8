package main_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

// TestTheTemplateThatGovernsACIIsExplicitAndShown walks item 7 of issue 8 through the real
// pipeline: a second template for the same CIs without a priority is refused naming the
// first; with a higher priority it governs, and the CI and its drift name it and its version.
func TestTheTemplateThatGovernsACIIsExplicitAndShown(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	canary := map[string]any{"template_id": "web-vm-canary", "resource_type": "vm",
		"template_definition": map[string]any{"power_state": "on", "cpu_count": 4, "memory_mb": 4096}}
	var refused struct{ Detail string }
	if code := s.do(http.MethodPut, "/templates/web-vm-canary", canary, &refused); code != http.StatusConflict {
		t.Fatalf("a second vm template without a priority: %d, want 409", code)
	}
	if !strings.Contains(refused.Detail, `"web-vm"`) {
		t.Fatalf("the refusal %q does not name the governing template", refused.Detail)
	}
	canary["priority"] = 10
	s.put(http.MethodPut, "/templates/web-vm-canary", canary)
	canary["template_definition"] = map[string]any{"power_state": "on", "cpu_count": 8, "memory_mb": 4096}
	s.put(http.MethodPut, "/templates/web-vm-canary", canary) // version 2

	s.observe(observation("obs-1", "web-09", "on")) // cpu_count 2 against the canary's 8
	l := s.waitForDrifts("web-09", "open", 1)
	var d struct {
		Field           string `json:"field"`
		TemplateID      string `json:"template_id"`
		TemplateVersion int    `json:"template_version"`
	}
	if code := s.do(http.MethodGet, "/drift/events/"+l.Items[0].DriftID, nil, &d); code != http.StatusOK {
		t.Fatalf("GET the drift: %d", code)
	}
	if d.Field != "/cpu_count" || d.TemplateID != "web-vm-canary" || d.TemplateVersion != 2 {
		t.Fatalf("drift %+v, want /cpu_count judged against web-vm-canary v2", d)
	}
	var ci struct {
		Governing *struct {
			ID      string `json:"template_id"`
			Version int    `json:"version"`
		} `json:"governing_template"`
	}
	proctest.WaitUntil(t, 2*time.Second, "the CI names its governing template", func() bool {
		return s.do(http.MethodGet, "/drift/cis/web-09", nil, &ci) == http.StatusOK && ci.Governing != nil
	})
	if got := fmt.Sprintf("%s v%d", ci.Governing.ID, ci.Governing.Version); got != "web-vm-canary v2" {
		t.Fatalf("the CI is governed by %s, want web-vm-canary v2", got)
	}
}
