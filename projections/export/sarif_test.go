package export_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/projections/export"
)

var tool = export.ToolInfo{Version: "1.2.3", InformationURI: "https://github.com/driftwatch/driftwatch"}

// sarifDoc is the part of a log the tests look at.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string `json:"name"`
				Rules []struct {
					ID                   string `json:"id"`
					DefaultConfiguration struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Invocations []struct {
			Notifications []struct {
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
				Properties map[string]any `json:"properties"`
			} `json:"toolExecutionNotifications"`
		} `json:"invocations"`
		Results []sarifResult `json:"results"`
	} `json:"runs"`
}

type sarifResult struct {
	RuleID    string `json:"ruleId"`
	RuleIndex int    `json:"ruleIndex"`
	Level     string `json:"level"`
	Message   struct {
		Text string `json:"text"`
	} `json:"message"`
	Locations []struct {
		PhysicalLocation *struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
		} `json:"physicalLocation"`
		LogicalLocations []struct {
			FullyQualifiedName string `json:"fullyQualifiedName"`
			Kind               string `json:"kind"`
		} `json:"logicalLocations"`
	} `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

func writeSARIF(t *testing.T, r export.Report, ti export.ToolInfo) ([]byte, sarifDoc) {
	t.Helper()
	var buf bytes.Buffer
	if err := export.WriteSARIF(&buf, r, ti); err != nil {
		t.Fatal(err)
	}
	validSARIF(t, buf.Bytes())
	var doc sarifDoc
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 1 || len(doc.Runs[0].Invocations) != 1 {
		t.Fatalf("%d runs, want 1 with one invocation", len(doc.Runs))
	}
	return buf.Bytes(), doc
}

func TestWriteSARIFMatchesTheGoldenFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		report export.Report
		tool   export.ToolInfo
		file   string
	}{
		{"writes_a_small_report", smallReport(), tool, "small.sarif.json"},
		{"writes_an_empty_report_with_no_results", export.Report{}, export.ToolInfo{}, "empty.sarif.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := writeSARIF(t, tc.report, tc.tool)
			goldenJSON(t, tc.file, got)
		})
	}
}

func TestWriteSARIFShape(t *testing.T) {
	t.Parallel()
	raw, doc := writeSARIF(t, smallReport(), tool)
	run := doc.Runs[0]

	t.Run("has_one_rule_per_category_with_security_an_error", func(t *testing.T) {
		t.Parallel()
		var got []string
		for _, r := range run.Tool.Driver.Rules {
			got = append(got, r.ID+"="+r.DefaultConfiguration.Level)
		}
		want := []string{"drift/configuration=warning", "drift/package=warning", "drift/network=warning",
			"drift/state=warning", "drift/security=error", "drift/firmware=warning"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rules %v, want %v", got, want)
		}
	})

	t.Run("writes_one_result_per_drift_sorted_by_ci_and_field", func(t *testing.T) {
		t.Parallel()
		var got []string
		for _, r := range run.Results {
			got = append(got, fmt.Sprintf("%s %s %s #%d %s", r.PartialFingerprints["driftwatch/v1"], r.RuleID,
				r.Level, r.RuleIndex, r.Locations[0].LogicalLocations[0].FullyQualifiedName))
			if k := r.Locations[0].LogicalLocations[0].Kind; k != "resource" {
				t.Errorf("logical location kind %q, want resource", k)
			}
		}
		want := []string{
			"d-0001 drift/configuration error #0 ci/web-02/files/~1etc~1nginx~1nginx.conf",
			"d-0002 drift/package warning #1 ci/web-02/packages/openssl",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("results\n%q\nwant\n%q", got, want)
		}
	})

	t.Run("locates_a_file_drift_in_the_file_and_no_other", func(t *testing.T) {
		t.Parallel()
		file, pkg := run.Results[0].Locations[0], run.Results[1].Locations[0]
		if file.PhysicalLocation == nil || file.PhysicalLocation.ArtifactLocation.URI != "file:///etc/nginx/nginx.conf" {
			t.Errorf("file drift physical location %+v, want file:///etc/nginx/nginx.conf", file.PhysicalLocation)
		}
		if pkg.PhysicalLocation != nil {
			t.Errorf("package drift has physical location %+v", pkg.PhysicalLocation)
		}
	})

	t.Run("carries_the_drift_in_the_result_properties", func(t *testing.T) {
		t.Parallel()
		got := run.Results[1].Properties
		want := map[string]any{"ci_id": "web-02", "ci_type": "node", "field": "/packages/openssl",
			"category": "package", "severity": "medium", "status": "acknowledged", "desired": "3.0.13-1",
			"actual": "3.0.11-1", "policy_id": "packages", "template_id": "nginx-web", "template_version": 3.0,
			"planned": true, "ticket": "CHG0042", "detected_at": "2026-05-04T10:30:00Z"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("properties\n%v\nwant\n%v", got, want)
		}
		desired := run.Results[0].Properties["desired"]
		if !reflect.DeepEqual(desired, map[string]any{"mode": "0644", "sha256": "ab12"}) {
			t.Fatalf("desired %v is not the JSON value", desired)
		}
	})

	t.Run("names_the_unverified_cis_in_a_notification", func(t *testing.T) {
		t.Parallel()
		n := run.Invocations[0].Notifications
		if len(n) != 1 || n[0].Level != "warning" ||
			!strings.Contains(n[0].Message.Text, "db-01 (never verified)") ||
			!strings.Contains(n[0].Message.Text, "web-03 (stale, last verified 2026-05-01T12:30:00Z)") {
			t.Fatalf("notifications %+v, want one warning naming db-01 and web-03", n)
		}
	})

	t.Run("does_not_escape_html", func(t *testing.T) {
		t.Parallel()
		if !bytes.Contains(raw, []byte(`<auto> -> \"8\" & 'ssl'`)) || bytes.Contains(raw, []byte(`\u003c`)) {
			t.Fatal("the detail's markup is escaped for HTML")
		}
	})
}

func TestWriteSARIFLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		severity drift.Severity
		level    string
	}{
		{"reports_critical_as_an_error", drift.SeverityCritical, "error"},
		{"reports_high_as_an_error", drift.SeverityHigh, "error"},
		{"reports_medium_as_a_warning", drift.SeverityMedium, "warning"},
		{"reports_low_as_a_note", drift.SeverityLow, "note"},
		{"reports_an_unknown_severity_as_a_warning", drift.Severity("urgent"), "warning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := export.Report{CIs: []export.CI{{ID: "a", Type: "node", Status: export.StatusDrifted,
				Drifts: []export.Finding{{DriftID: "d", Field: "/x", Category: drift.CategoryState, Severity: tc.severity}}}}}
			_, doc := writeSARIF(t, r, tool)
			if got := doc.Runs[0].Results[0].Level; got != tc.level {
				t.Fatalf("level %q, want %q", got, tc.level)
			}
		})
	}
}

func TestWriteSARIFFileLocations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		field string
		uri   string
	}{
		{"locates_a_watched_file", "/files/~1etc~1hosts", "file:///etc/hosts"},
		{"locates_a_field_inside_a_watched_file", "/files/~1etc~1hosts/sha256", "file:///etc/hosts"},
		{"escapes_a_path_for_a_uri", "/files/~1srv~1my dir~1100%~1a~0b", "file:///srv/my%20dir/100%25/a~b"},
		{"leaves_a_relative_file_path_without_location", "/files/etc~1hosts", ""},
		{"leaves_a_package_without_location", "/packages/openssl", ""},
		{"leaves_the_files_object_without_location", "/files", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := export.Report{CIs: []export.CI{{ID: "a", Type: "node", Status: export.StatusDrifted,
				Drifts: []export.Finding{{DriftID: "d", Field: tc.field, Category: drift.CategoryConfiguration, Severity: drift.SeverityLow}}}}}
			_, doc := writeSARIF(t, r, tool)
			loc := doc.Runs[0].Results[0].Locations[0]
			got := ""
			if loc.PhysicalLocation != nil {
				got = loc.PhysicalLocation.ArtifactLocation.URI
			}
			if got != tc.uri {
				t.Fatalf("uri %q, want %q", got, tc.uri)
			}
		})
	}
}

// bigReport has n drifts over CIs of 100 drifts each, severities in the given shares.
func bigReport(shares map[drift.Severity]int, desired func(i int) json.RawMessage) export.Report {
	var r export.Report
	i := 0
	for _, s := range []drift.Severity{drift.SeverityLow, drift.SeverityCritical, drift.SeverityMedium, drift.SeverityHigh} {
		for range shares[s] {
			if i%100 == 0 {
				r.CIs = append(r.CIs, export.CI{ID: fmt.Sprintf("ci-%05d", i/100), Type: "node", Status: export.StatusDrifted})
			}
			ci := &r.CIs[len(r.CIs)-1]
			ci.Drifts = append(ci.Drifts, export.Finding{DriftID: fmt.Sprintf("d-%06d", i),
				Field: fmt.Sprintf("/settings/k%03d", i%100), Category: drift.CategoryConfiguration,
				Severity: s, Desired: desired(i), Actual: json.RawMessage(`"x"`), Status: "open"})
			i++
		}
	}
	return r
}

func TestWriteSARIFCutsToGitHubsResultLimit(t *testing.T) {
	t.Parallel()
	shares := map[drift.Severity]int{drift.SeverityCritical: 8000, drift.SeverityHigh: 8000,
		drift.SeverityMedium: 8000, drift.SeverityLow: 6000}
	r := bigReport(shares, func(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`%d`, i)) })
	var buf bytes.Buffer
	if err := export.WriteSARIF(&buf, r, tool); err != nil {
		t.Fatal(err)
	}
	// A log this size is decoded once, by the schema validator, and read from its tree.
	run := validSARIF(t, buf.Bytes()).(map[string]any)["runs"].([]any)[0].(map[string]any)
	results := run["results"].([]any)
	if len(results) != export.GitHubMaxResults {
		t.Fatalf("%d results, want %d", len(results), export.GitHubMaxResults)
	}
	kept := map[string]int{}
	var lows []string
	for _, res := range results {
		props := res.(map[string]any)["properties"].(map[string]any)
		s := props["severity"].(string)
		kept[s]++
		if s == "low" {
			lows = append(lows, props["ci_id"].(string)+props["field"].(string))
		}
	}
	if want := map[string]int{"critical": 8000, "high": 8000, "medium": 8000, "low": 1000}; !reflect.DeepEqual(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	// The low drifts kept are the first in CI id, field order: ci-00000 ... ci-00009.
	if lows[0] != "ci-00000/settings/k000" || lows[len(lows)-1] != "ci-00009/settings/k099" {
		t.Fatalf("kept low drifts %s ... %s, want ci-00000/settings/k000 ... ci-00009/settings/k099", lows[0], lows[len(lows)-1])
	}
	n := run["invocations"].([]any)[0].(map[string]any)["toolExecutionNotifications"].([]any)
	notice := n[0].(map[string]any)
	props := notice["properties"].(map[string]any)
	if len(n) != 1 || props["omitted_results"] != json.Number("5000") || props["total_results"] != json.Number("30000") ||
		!strings.Contains(notice["message"].(map[string]any)["text"].(string), "5000 of 30000 results were left out (5000 low)") {
		t.Fatalf("notifications %v, want one saying 5000 low results of 30000 were left out", n)
	}
}

func TestWriteSARIFCutsToTheGzipLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	shares := map[drift.Severity]int{drift.SeverityHigh: 20, drift.SeverityLow: 60}
	r := bigReport(shares, func(int) json.RawMessage {
		noise := make([]byte, 1500) // random bytes do not compress
		_, _ = rand.Read(noise)
		return json.RawMessage(`"` + base64.StdEncoding.EncodeToString(noise) + `"`)
	})
	raw, doc := writeSARIF(t, r, export.ToolInfo{MaxGzipBytes: limit})

	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	if zipped.Len() > limit {
		t.Fatalf("gzipped log is %d bytes, over the %d limit", zipped.Len(), limit)
	}
	run := doc.Runs[0]
	if len(run.Results) < 20 || len(run.Results) >= 80 {
		t.Fatalf("%d results, want every high one and not every low one", len(run.Results))
	}
	high := 0
	for _, res := range run.Results {
		if res.Properties["severity"] == "high" {
			high++
		}
	}
	omitted := 80 - len(run.Results)
	n := run.Invocations[0].Notifications
	if high != 20 || len(n) != 1 || n[0].Properties["omitted_results"] != float64(omitted) {
		t.Fatalf("%d high results kept, notifications %+v; want 20 and a notice of %d left out", high, n, omitted)
	}
	// The cut is not much deeper than it has to be: one more result would not have fitted
	// by a wide margin.
	if zipped.Len() < limit*8/10 {
		t.Fatalf("gzipped log is %d bytes, far under the %d limit", zipped.Len(), limit)
	}
}

func TestWriteSARIFIsDeterministic(t *testing.T) {
	t.Parallel()
	r := smallReport()
	before := reportCopy(t, r)
	a, _ := writeSARIF(t, r, tool)
	b, _ := writeSARIF(t, reversed(r), tool)
	if !bytes.Equal(a, b) {
		t.Fatalf("the same report in another order gives other bytes:\n%s\n---\n%s", a, b)
	}
	if !reflect.DeepEqual(reportCopy(t, r), before) {
		t.Fatal("WriteSARIF changed its report")
	}
}

func TestWriteSARIFKeepsAnyDriftValid(t *testing.T) {
	t.Parallel()
	all := everyByte()
	r := smallReport()
	d := &r.CIs[0].Drifts[1]
	d.Field, d.Detail, d.Desired, d.Actual, d.URL = "/files/"+all, all, []byte(all), []byte(`{"a":`), all
	d.Category = drift.Category(all)
	r.CIs[0].ID = all
	_, doc := writeSARIF(t, r, tool)
	if got := len(doc.Runs[0].Tool.Driver.Rules); got != 7 {
		t.Fatalf("%d rules, want the six categories and the unknown one", got)
	}
	if got := doc.Runs[0].Results[0].Properties["actual"]; got != `{"a":` {
		t.Fatalf("actual %v, want the invalid JSON as a string", got)
	}
}

func TestWriteSARIFRefusesABadTool(t *testing.T) {
	t.Parallel()
	err := export.WriteSARIF(&bytes.Buffer{}, smallReport(),
		export.ToolInfo{InformationURI: "not a uri", MaxResults: -1})
	if err == nil || !fault.IsPermanent(err) {
		t.Fatalf("error %v, want a permanent one", err)
	}
	for _, want := range []string{"information uri", "max results"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestWriteSARIFReturnsTheWritersError(t *testing.T) {
	t.Parallel()
	if err := export.WriteSARIF(failingWriter{}, smallReport(), tool); !errors.Is(err, errDiskFull) {
		t.Fatalf("error %v, want one wrapping %v", err, errDiskFull)
	}
}
