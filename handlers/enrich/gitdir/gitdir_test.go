package gitdir_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/gitdir"
	"github.com/driftwatch/driftwatch/internal/testsupport/desiredtest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// git runs git in dir, failing the test on error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestADirectoryOfTemplateFiles(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Missing(t, "git is not in PATH: apt-get install git")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	write(t, dir, "vms/web.yaml", "resource_type: vm\ntemplate_definition:\n  power_state: \"on\"\n  cpu_count: 2\n")
	write(t, dir, "db.json", `{"template_id": "db-vm", "resource_type": "db", "template_definition": {"engine": "postgres"}}`)
	write(t, dir, ".hidden/x.yaml", "not: [a template")
	write(t, dir, "README.md", "not a template file")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "first")
	head := git(t, dir, "rev-parse", "HEAD")

	s, err := gitdir.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Errors(); len(errs) != 0 {
		t.Fatalf("errors %v, want none (hidden directories and other files are not read)", errs)
	}
	d, found, err := s.Desired(context.Background(), enrich.Query{CIID: "web-01", CIType: "vm"})
	if err != nil || !found {
		t.Fatalf("desired for a vm: %v, %v", found, err)
	}
	if d.Source != "git" || d.TemplateID != "web" || d.Ref != filepath.Join("vms", "web.yaml") || d.Commit != head ||
		string(d.Definition) != `{"cpu_count":2,"power_state":"on"}` || !strings.HasPrefix(d.BaselineHash, "sha256:") {
		t.Fatalf("desired %+v", d)
	}
	if d, found, _ := s.Desired(context.Background(), enrich.Query{CIType: "other", TemplateID: "db-vm"}); !found || d.Ref != "db.json" {
		t.Fatalf("by template id: %v %+v", found, d)
	}
	if _, found, _ := s.Desired(context.Background(), enrich.Query{CIType: "switch"}); found {
		t.Fatal("a type no file governs has desired state")
	}

	t.Run("a_change_is_seen_and_names_its_commit", func(t *testing.T) {
		write(t, dir, "vms/web.yaml", "resource_type: vm\ntemplate_definition:\n  power_state: \"off\"\n  cpu_count: 2\n")
		git(t, dir, "commit", "-q", "-am", "second")
		changed, err := s.Reload()
		if err != nil || !changed {
			t.Fatalf("reload: %v, %v", changed, err)
		}
		d, _, _ := s.Desired(context.Background(), enrich.Query{CIType: "vm"})
		if !strings.Contains(string(d.Definition), `"off"`) || d.Commit != git(t, dir, "rev-parse", "HEAD") {
			t.Fatalf("after the change %+v", d)
		}
		if changed, _ := s.Reload(); changed {
			t.Fatal("a reload without a change reports one")
		}
	})
	t.Run("a_bad_file_is_refused_whole_with_file_line_and_reason_and_the_last_good_one_stays", func(t *testing.T) {
		time.Sleep(10 * time.Millisecond) // a new modification time
		write(t, dir, "vms/web.yaml", "resource_type: vm\ncolour: red\ntemplate_definition:\n  power_state: \"on\"\n")
		write(t, dir, "broken.json", "{\n  \"resource_type\": \"x\",\n  \"template_definition\": {\n}")
		if _, err := s.Reload(); err != nil {
			t.Fatal(err)
		}
		errs := s.Errors()
		text := ""
		for _, e := range errs {
			text += e.Error() + "\n"
		}
		if len(errs) != 2 || !strings.Contains(text, filepath.Join("vms", "web.yaml")+`: line 2: unknown key "colour"`) || !strings.Contains(text, "broken.json: line 4") {
			t.Fatalf("errors:\n%s", text)
		}
		d, found, _ := s.Desired(context.Background(), enrich.Query{CIType: "vm"})
		if !found || !strings.Contains(string(d.Definition), `"off"`) {
			t.Fatalf("desired %+v, want the last good version (off) in force", d)
		}
	})
}

// dirFixture is the contract suite's fixture for a templates directory.
type dirFixture struct {
	dir string
	s   *gitdir.Source
}

func (f *dirFixture) Source() enrich.DesiredSource { return f.s }
func (f *dirFixture) Exact() bool                  { return true }

func (f *dirFixture) Set(t *testing.T, ci, ciType string, def map[string]any) {
	raw, _ := json.Marshal(map[string]any{"resource_type": ciType, "template_definition": def})
	write(t, f.dir, ciType+".json", string(raw))
	f.reload(t)
}

func (f *dirFixture) Remove(t *testing.T, ci, ciType string) {
	if err := os.Remove(filepath.Join(f.dir, ciType+".json")); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
}

func (f *dirFixture) reload(t *testing.T) {
	t.Helper()
	time.Sleep(5 * time.Millisecond) // a new modification time even when the size repeats
	if _, err := f.s.Reload(); err != nil {
		t.Fatal(err)
	}
}

func TestTheDirectoryPassesTheDesiredStateContract(t *testing.T) {
	t.Parallel()
	desiredtest.Run(t, func(t *testing.T) desiredtest.Fixture {
		dir := t.TempDir()
		s, err := gitdir.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return &dirFixture{dir: dir, s: s}
	})
}
