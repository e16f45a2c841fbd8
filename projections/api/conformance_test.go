package api

import (
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

func TestJSONPatchConformance(t *testing.T) {
	t.Parallel()
	checked := map[string]int{}
	for _, r := range testenv.JSONPatchCases(t) {
		if r.Disabled {
			continue
		}
		got, err := ApplyJSONPatch(r.Doc, r.Patch)
		switch {
		case r.Error != "":
			checked[r.File]++
			if err == nil {
				t.Errorf("%s #%d (%s): applied %s, want error %q", r.File, r.Index, r.Comment, got, r.Error)
			}
		case r.Expected != nil:
			checked[r.File]++
			if err != nil {
				t.Errorf("%s #%d (%s): %v", r.File, r.Index, r.Comment, err)
			} else if !testenv.JSONEqual(t, got, r.Expected) {
				t.Errorf("%s #%d (%s): got %s, want %s", r.File, r.Index, r.Comment, got, r.Expected)
			}
		}
	}
	for _, file := range []string{"tests.json", "spec_tests.json"} {
		if checked[file] == 0 {
			t.Fatalf("%s: no enabled record checked", file)
		}
	}
}
