package main_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// TestATemplateChangeReevaluatesEveryCIItGovernsAtOnce: a drift stayed open 30 s after its
// template was changed to match, and a change that made a CI non-compliant opened nothing,
// until someone called POST /drift/reconcile. Now every change is a version, and the CIs it
// governs are judged again from their last observed state within 2 s.
func TestATemplateChangeReevaluatesEveryCIItGovernsAtOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	template := func(power string) map[string]any {
		return map[string]any{"template_id": "web-vm", "resource_type": "vm",
			"template_definition": map[string]any{"power_state": power, "cpu_count": 2, "memory_mb": 4096}}
	}
	s.put(http.MethodPut, "/templates/web-vm", template("on"))
	s.observe(observation("tv-1", "tv-01", "off"))
	s.observe(observation("tv-2", "tv-02", "on"))
	s.waitForDrifts("tv-01", "open", 1)
	s.waitForDrifts("tv-02", "open", 0)
	var d struct {
		TemplateID      string `json:"template_id"`
		TemplateVersion int    `json:"template_version"`
		DesiredSource   string `json:"desired_source"`
		Status          string `json:"status"`
	}
	s.do(http.MethodGet, "/drift/events/"+s.drifts("?ci=tv-01").Items[0].DriftID, nil, &d)
	if d.TemplateID != "web-vm" || d.TemplateVersion != 1 || d.DesiredSource != "template" {
		t.Fatalf("drift judged against %+v, want template web-vm version 1", d)
	}

	// The template now says "off": tv-01 complies, tv-02 no longer does. No observation, no
	// reconcile.
	s.put(http.MethodPut, "/templates/web-vm", template("off"))
	proctest.WaitUntil(t, 2*time.Second, "the change resolves tv-01's drift and opens one on tv-02", func() bool {
		return s.drifts("?ci=tv-01&status=resolved").Total == 1 && s.drifts("?ci=tv-02&status=open").Total == 1
	})
	s.do(http.MethodGet, "/drift/events/"+s.drifts("?ci=tv-02").Items[0].DriftID, nil, &d)
	if d.TemplateVersion != 2 {
		t.Fatalf("tv-02's drift was judged against version %d, want 2", d.TemplateVersion)
	}

	// Back to the first definition: judged again, though it was seen before.
	s.put(http.MethodPut, "/templates/web-vm", template("on"))
	proctest.WaitUntil(t, 2*time.Second, "the change back reopens tv-01 and resolves tv-02", func() bool {
		return s.drifts("?ci=tv-01&status=open").Total == 1 && s.drifts("?ci=tv-02&status=resolved").Total == 1
	})
	var tpl struct {
		Version int `json:"version"`
	}
	s.do(http.MethodGet, "/templates/web-vm", nil, &tpl)
	if tpl.Version != 3 {
		t.Fatalf("template version %d after three changes, want 3", tpl.Version)
	}
	var ci struct {
		Evaluation struct {
			Reevaluation string `json:"reevaluation"`
			Desired      struct {
				Version int `json:"version"`
			} `json:"desired"`
		} `json:"evaluation"`
	}
	s.do(http.MethodGet, "/drift/cis/tv-01", nil, &ci)
	if ci.Evaluation.Desired.Version != 3 || ci.Evaluation.Reevaluation == "" {
		t.Fatalf("tv-01's last verdict %+v, want a re-evaluation against version 3", ci.Evaluation)
	}
}

// TestATemplatesDirectoryInGitIsDesiredStateAndItsCommitsReevaluate: serve --templates-dir on
// a Git checkout: its files govern the CIs of their types, named with file and commit; a
// commit that changes a file re-evaluates at once; a bad file is refused and the last good
// version stays in force.
func TestATemplatesDirectoryInGitIsDesiredStateAndItsCommitsReevaluate(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Missing(t, "git is not in PATH: apt-get install git")
	}
	repo := t.TempDir()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(body string) {
		if err := os.WriteFile(filepath.Join(repo, "web-vm.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("resource_type: vm\ntemplate_definition:\n  power_state: \"on\"\n  cpu_count: 2\n  memory_mb: 4096\n")
	git("add", ".")
	git("commit", "-q", "-m", "vms are on")
	s := startServer(t, t.TempDir(), "--templates-dir", repo, "--templates-every", "200ms")
	s.observe(observation("git-1", "git-01", "off"))
	s.waitForDrifts("git-01", "open", 1)
	var ci struct {
		Evaluation struct {
			Desired struct {
				Source string `json:"source"`
				Ref    string `json:"ref"`
				Commit string `json:"commit"`
			} `json:"desired"`
		} `json:"evaluation"`
	}
	s.do(http.MethodGet, "/drift/cis/git-01", nil, &ci)
	if d := ci.Evaluation.Desired; d.Source != "git" || d.Ref != "web-vm.yaml" || d.Commit != git("rev-parse", "HEAD") {
		t.Fatalf("judged against %+v, want web-vm.yaml at HEAD", d)
	}

	write("resource_type: vm\ntemplate_definition:\n  power_state: \"off\"\n  cpu_count: 2\n  memory_mb: 4096\n")
	git("commit", "-q", "-am", "vms are off")
	proctest.WaitUntil(t, 3*time.Second, "the commit resolves git-01's drift", func() bool {
		return s.drifts("?ci=git-01&status=resolved").Total == 1
	})

	write("resource_type: vm\ntemplate_definition: [not, an, object]\n")
	git("commit", "-q", "-am", "broken")
	proctest.WaitUntil(t, 3*time.Second, "the bad file is refused, naming it", func() bool {
		return strings.Contains(s.Output.String(), "web-vm.yaml") && strings.Contains(s.Output.String(), "Template file refused")
	})
	s.observe(observation("git-2", "git-01", "off"))
	time.Sleep(300 * time.Millisecond)
	if l := s.drifts("?ci=git-01&status=open"); l.Total != 0 {
		t.Fatalf("%d open drifts: the last good version (off) should still be in force", l.Total)
	}
}
