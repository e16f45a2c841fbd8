package export_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections/export"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var generated = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

// hostile is a detail no XML or HTML writer may pass through as it is: markup, quotes, a CDATA
// end, a bell, a NUL, an invalid UTF-8 byte and a noncharacter.
const hostile = "worker_processes changed: <auto> -> \"8\" & 'ssl' ]]> \a\x00\xff\uffff end"

// smallReport has a CI in sync, a drifted one with a file drift and a package drift (given
// out of order), a stale one and one never verified.
func smallReport() export.Report {
	return export.Report{
		Generated: generated,
		Server:    "https://driftwatch.example.net:8443",
		Filters:   map[string]string{"category": "configuration,package"},
		CIs: []export.CI{
			{ID: "web-02", Type: "node", TemplateID: "nginx-web", Status: export.StatusDrifted,
				LastVerifiedAt: generated.Add(-5 * time.Minute),
				Drifts: []export.Finding{
					{DriftID: "d-0002", Field: "/packages/openssl", Category: drift.CategoryPackage,
						Severity: drift.SeverityMedium, Desired: json.RawMessage(`"3.0.13-1"`),
						Actual: json.RawMessage(`"3.0.11-1"`), PolicyID: "packages",
						TemplateID: "nginx-web", TemplateVersion: 3, DetectedAt: generated.Add(-2 * time.Hour),
						Status: "acknowledged", Planned: true, Ticket: "CHG0042"},
					{DriftID: "d-0001", Field: "/files/~1etc~1nginx~1nginx.conf",
						Category: drift.CategoryConfiguration, Severity: drift.SeverityHigh,
						Desired: json.RawMessage(`{"mode": "0644", "sha256": "ab12"}`),
						Actual:  json.RawMessage(`{"mode":"0666","sha256":"<ff00>"}`),
						Detail:  hostile, PolicyID: "nginx-files", TemplateID: "nginx-web", TemplateVersion: 3,
						DetectedAt: generated.Add(-time.Hour), Status: "open",
						URL: "https://driftwatch.example.net:8443/ui/drifts/d-0001"},
				}},
			{ID: "web-03", Type: "node", TemplateID: "nginx-web", Status: export.StatusStale,
				LastVerifiedAt: generated.Add(-72 * time.Hour)},
			{ID: "sw-core-1", Type: "switch", TemplateID: "core-switch", Status: export.StatusInSync,
				LastVerifiedAt: generated.Add(-time.Minute)},
			{ID: "db-01", Type: "node", TemplateID: "postgres", Status: export.StatusNeverVerified},
		},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update once): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output:\n%s", path, got)
	}
}

// goldenJSON compares the compact JSON document got, indented, with testdata/name.
func goldenJSON(t *testing.T, name string, got []byte) {
	t.Helper()
	if bytes.Count(got, []byte("\n")) != 1 {
		t.Fatalf("the document is not one compact line: %q", got)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	golden(t, name, indented.Bytes())
}

// validJUnit checks doc against the JUnit schema with xmllint.
func validJUnit(t *testing.T, doc []byte) {
	t.Helper()
	testenv.ValidJUnit(t, doc)
}

// validSARIF checks doc against the OASIS SARIF 2.1.0 schema, formats (uri, date-time)
// included, and returns it decoded (numbers as json.Number).
func validSARIF(t *testing.T, doc []byte) any {
	t.Helper()
	return testenv.ValidSARIF(t, doc)
}

type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// reportCopy is a deep copy, to show a writer left its input alone.
func reportCopy(t *testing.T, r export.Report) export.Report {
	t.Helper()
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out export.Report
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// reversed is r with its CIs and their drifts in the opposite order.
func reversed(r export.Report) export.Report {
	out := r
	out.CIs = nil
	for i := len(r.CIs) - 1; i >= 0; i-- {
		ci := r.CIs[i]
		ci.Drifts = nil
		for j := len(r.CIs[i].Drifts) - 1; j >= 0; j-- {
			ci.Drifts = append(ci.Drifts, r.CIs[i].Drifts[j])
		}
		out.CIs = append(out.CIs, ci)
	}
	return out
}

// everyByte is a string holding every byte value once.
func everyByte() string {
	var b strings.Builder
	for i := range 256 {
		b.WriteByte(byte(i))
	}
	return b.String()
}
