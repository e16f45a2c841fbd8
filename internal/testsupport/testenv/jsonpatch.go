package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// JSONPatchCase is one record of the public JSON Patch test suite: apply Patch to Doc and get
// Expected, or an error when Error is set. Disabled records are to be skipped.
type JSONPatchCase struct {
	File     string          `json:"-"`
	Index    int             `json:"-"`
	Comment  string          `json:"comment"`
	Doc      json.RawMessage `json:"doc"`
	Patch    json.RawMessage `json:"patch"`
	Expected json.RawMessage `json:"expected"`
	Error    string          `json:"error"`
	Disabled bool            `json:"disabled"`
}

// JSONPatchCases reads tests.json and spec_tests.json of the json-patch conformance suite (see
// ConformanceFile).
func JSONPatchCases(t testing.TB) []JSONPatchCase {
	t.Helper()
	var out []JSONPatchCase
	for _, name := range []string{"tests.json", "spec_tests.json"} {
		raw := ConformanceFile(t, "json-patch", name)
		var cases []JSONPatchCase
		if err := json.Unmarshal(raw, &cases); err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		for i := range cases {
			cases[i].File, cases[i].Index = name, i
		}
		out = append(out, cases...)
	}
	return out
}

// ConformanceFile reads file name of an outside conformance suite (json-patch, sarif, junit,
// cloudevents, standard-webhooks) from $DRIFTWATCH_CONFORMANCE_DIR/<suite>, else from
// shared/conformance/<suite> beside the repository (the directory above the one with go.mod).
// Missing data skips the test, or fails it under DRIFTWATCH_REQUIRE_ALL=1.
func ConformanceFile(t testing.TB, suite, name string) []byte {
	t.Helper()
	path := ConformancePath(t, suite, name)
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		Missing(t, "conformance data %s not found (set DRIFTWATCH_CONFORMANCE_DIR or clone shared/ beside the repository)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// ConformancePath is where ConformanceFile reads file name of suite, for tools that take a
// path (xmllint --schema).
func ConformancePath(t testing.TB, suite, name string) string {
	t.Helper()
	dir := os.Getenv("DRIFTWATCH_CONFORMANCE_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "..", "shared", "conformance")
	}
	return filepath.Join(dir, suite, name)
}

// repoRoot is the nearest directory at or above the working directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// JSONEqual reports whether two JSON documents mean the same; it fails the test on bad JSON.
func JSONEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
