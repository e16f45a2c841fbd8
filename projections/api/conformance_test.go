package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/testenv"
)

// conformanceRecord is one case of the public JSON Patch test suite.
type conformanceRecord struct {
	Comment  string          `json:"comment"`
	Doc      json.RawMessage `json:"doc"`
	Patch    json.RawMessage `json:"patch"`
	Expected json.RawMessage `json:"expected"`
	Error    string          `json:"error"`
	Disabled bool            `json:"disabled"`
}

// conformanceDir finds the JSON Patch suite: DRIFTWATCH_CONFORMANCE_DIR, else shared/ beside
// the repository.
func conformanceDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DRIFTWATCH_CONFORMANCE_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "conformance", "json-patch")
	}
	if _, err := os.Stat(filepath.Join(dir, "tests.json")); err != nil {
		testenv.Missing(t, "JSON Patch conformance data not found in %s (set DRIFTWATCH_CONFORMANCE_DIR or clone shared/ beside the repository): %v", dir, err)
	}
	return dir
}

func TestJSONPatchConformance(t *testing.T) {
	t.Parallel()
	dir := conformanceDir(t)
	for _, file := range []string{"tests.json", "spec_tests.json"} {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		var recs []conformanceRecord
		if err := json.Unmarshal(raw, &recs); err != nil {
			t.Fatalf("decode %s: %v", file, err)
		}
		checked := 0
		for i, r := range recs {
			if r.Disabled {
				continue
			}
			got, err := ApplyJSONPatch(r.Doc, r.Patch)
			switch {
			case r.Error != "":
				checked++
				if err == nil {
					t.Errorf("%s #%d (%s): applied %s, want error %q", file, i, r.Comment, got, r.Error)
				}
			case r.Expected != nil:
				checked++
				if err != nil {
					t.Errorf("%s #%d (%s): %v", file, i, r.Comment, err)
				} else if !jsonEqual(t, got, r.Expected) {
					t.Errorf("%s #%d (%s): got %s, want %s", file, i, r.Comment, got, r.Expected)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("%s: no enabled record checked", file)
		}
	}
}

// jsonEqual compares two JSON documents by meaning.
func jsonEqual(t *testing.T, a, b []byte) bool {
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
