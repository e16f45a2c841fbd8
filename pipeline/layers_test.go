package pipeline_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/driftwatch/driftwatch/"

// TestImportsPointDown keeps the house in shape (STYLE.md): pipeline imports nothing above
// it, the domain package only the standard library, stages never import each other, and
// projections never import stages. Only cmd composes everything. Test harnesses live in
// internal/testsupport alone: no other package imports "testing" or a harness outside its
// _test.go files.
func TestImportsPointDown(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		checked++
		from := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			if err := allowed(from, imp); err != "" {
				t.Errorf("%s imports %s: %s", from, imp, err)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages listed", checked)
	}
}

func allowed(from, imp string) string {
	harness := strings.HasPrefix(from, "internal/testsupport")
	if from == "pipeline/drift" && strings.Contains(strings.Split(imp, "/")[0], ".") {
		return "the domain package imports the standard library only"
	}
	if (imp == "testing" || strings.HasPrefix(imp, "testing/")) && !harness {
		return "only test harnesses (internal/testsupport) import testing outside _test.go files"
	}
	if strings.HasPrefix(imp, module+"internal/testsupport") && !harness {
		return "test harnesses are imported by tests only"
	}
	if !strings.HasPrefix(imp, module) {
		return ""
	}
	to := strings.TrimPrefix(imp, module)
	layer := func(p string) string { return strings.Split(p, "/")[0] }
	switch layer(from) {
	case "pipeline":
		if layer(to) != "pipeline" {
			return "pipeline is the shared kernel and imports nothing above it"
		}
	case "handlers":
		if layer(to) == "projections" || layer(to) == "cmd" || layer(to) == "agent" {
			return "stages depend on the kernel and their own adapters only"
		}
		if layer(to) == "handlers" && stage(from) != stage(to) {
			return "stages never import each other: they talk through events"
		}
	case "projections", "agent":
		if layer(to) == "handlers" || layer(to) == "cmd" {
			return "read models and the agent never import stages or commands"
		}
	}
	return ""
}

func stage(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return p
	}
	return parts[1]
}
