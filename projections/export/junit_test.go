package export_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/projections/export"
)

// junitDoc is what a CI server reads from a report.
type junitDoc struct {
	Suites []struct {
		Name       string `xml:"name,attr"`
		Hostname   string `xml:"hostname,attr"`
		Timestamp  string `xml:"timestamp,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Errors     int    `xml:"errors,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

func writeJUnit(t *testing.T, r export.Report) ([]byte, junitDoc) {
	t.Helper()
	var buf bytes.Buffer
	if err := export.WriteJUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	validJUnit(t, buf.Bytes())
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("encoding/xml cannot read the report: %v\n%s", err, buf.Bytes())
	}
	return buf.Bytes(), doc
}

func TestWriteJUnitMatchesTheGoldenFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		report export.Report
		file   string
	}{
		{"writes_a_small_report", smallReport(), "small.junit.xml"},
		{"writes_an_empty_report_as_empty_testsuites", export.Report{Generated: generated}, "empty.junit.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := writeJUnit(t, tc.report)
			golden(t, tc.file, got)
		})
	}
}

func TestWriteJUnitShape(t *testing.T) {
	t.Parallel()
	_, doc := writeJUnit(t, smallReport())

	t.Run("makes_one_suite_per_ci_type_sorted_by_name", func(t *testing.T) {
		t.Parallel()
		var names []string
		for _, s := range doc.Suites {
			names = append(names, s.Name)
			if s.Hostname != "driftwatch.example.net" || s.Timestamp != "2026-05-04T12:30:00" {
				t.Errorf("suite %s: hostname %q, timestamp %q", s.Name, s.Hostname, s.Timestamp)
			}
		}
		if !reflect.DeepEqual(names, []string{"node", "switch"}) {
			t.Fatalf("suites %v, want [node switch]", names)
		}
	})

	t.Run("counts_a_failure_per_drift_and_an_error_per_unverified_ci", func(t *testing.T) {
		t.Parallel()
		node := doc.Suites[0]
		if node.Tests != len(node.Cases) || node.Tests != 4 || node.Failures != 2 || node.Errors != 2 {
			t.Fatalf("node suite: tests %d (cases %d), failures %d, errors %d; want 4, 2, 2",
				node.Tests, len(node.Cases), node.Failures, node.Errors)
		}
		var got []string
		for _, c := range node.Cases {
			kind := "pass"
			switch {
			case c.Failure != nil:
				kind = "failure " + c.Failure.Type
			case c.Error != nil:
				kind = "error " + c.Error.Type
			}
			got = append(got, c.Classname+"|"+c.Name+"|"+kind)
		}
		want := []string{
			"node|db-01|error never_verified",
			"node|web-02 /files/~1etc~1nginx~1nginx.conf|failure configuration/high",
			"node|web-02 /packages/openssl|failure package/medium",
			"node|web-03|error stale",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cases\n%q\nwant\n%q", got, want)
		}
		sw := doc.Suites[1]
		if sw.Tests != 1 || sw.Failures != 0 || sw.Errors != 0 || sw.Cases[0].Name != "sw-core-1" {
			t.Fatalf("switch suite: %+v, want one passing case sw-core-1", sw)
		}
	})

	t.Run("puts_desired_and_actual_on_one_line_and_the_detail_in_the_body", func(t *testing.T) {
		t.Parallel()
		f := doc.Suites[0].Cases[1].Failure
		want := `/files/~1etc~1nginx~1nginx.conf: desired {"mode":"0644","sha256":"ab12"}, actual {"mode":"0666","sha256":"<ff00>"}`
		if f.Message != want {
			t.Errorf("message %q, want %q", f.Message, want)
		}
		if !strings.HasPrefix(f.Body, "worker_processes changed: <auto> -> \"8\" & 'ssl' ]]> \uFFFD\uFFFD\uFFFD\uFFFD end") {
			t.Errorf("body %q does not start with the detail, unsafe characters replaced", f.Body)
		}
		for _, line := range []string{"drift_id: d-0001", "policy_id: nginx-files", "template_version: 3",
			"url: https://driftwatch.example.net:8443/ui/drifts/d-0001"} {
			if !strings.Contains(f.Body, line+"\n") {
				t.Errorf("body %q lacks %q", f.Body, line)
			}
		}
	})

	t.Run("records_server_generation_time_and_filters_as_properties", func(t *testing.T) {
		t.Parallel()
		props := map[string]string{}
		for _, p := range doc.Suites[0].Properties {
			props[p.Name] = p.Value
		}
		want := map[string]string{"ci_type": "node", "generated": "2026-05-04T12:30:00Z",
			"server": "https://driftwatch.example.net:8443", "filter.category": "configuration,package"}
		if !reflect.DeepEqual(props, want) {
			t.Fatalf("properties %v, want %v", props, want)
		}
	})
}

func TestWriteJUnitReplacesWhatXMLCannotCarry(t *testing.T) {
	t.Parallel()
	all := everyByte()
	r := smallReport()
	r.Server = all
	r.Filters = map[string]string{all: all, "": "empty name", " ": "blank name"}
	r.CIs[0].ID = "web-02" + all
	r.CIs[0].Type = all
	r.CIs[0].Drifts[0].Field = "/x" + all
	r.CIs[0].Drifts[0].Detail = all
	r.CIs[0].Drifts[0].Desired = []byte(all)
	r.CIs[0].Drifts[0].Status = all
	r.CIs[1].Type = "\x00\x01 \t"

	raw, doc := writeJUnit(t, r)
	for i := 0; i < len(raw); {
		c, size := utf8.DecodeRune(raw[i:])
		if c == utf8.RuneError && size == 1 || c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0xFFFE || c == 0xFFFF {
			t.Fatalf("byte %d: %q is not XML 1.0", i, raw[i:i+size])
		}
		i += size
	}
	var printable string
	for c := 0x20; c < 0x7f; c++ {
		printable += string(rune(c))
	}
	found := false
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil && strings.Contains(c.Failure.Body, printable) {
				found = true
				if strings.Contains(c.Failure.Message, "\n") {
					t.Errorf("message %q spans lines", c.Failure.Message)
				}
			}
		}
	}
	if !found {
		t.Fatal("no failure body carries the printable ASCII of the detail unchanged")
	}
}

func TestWriteJUnitIsDeterministic(t *testing.T) {
	t.Parallel()
	r := smallReport()
	before := reportCopy(t, r)
	a, _ := writeJUnit(t, r)
	b, _ := writeJUnit(t, reversed(r))
	if !bytes.Equal(a, b) {
		t.Fatalf("the same report in another order gives other bytes:\n%s\n---\n%s", a, b)
	}
	if !reflect.DeepEqual(reportCopy(t, r), before) {
		t.Fatal("WriteJUnit changed its report")
	}
}

func TestWriteJUnitGivesDuplicateFieldsDistinctNames(t *testing.T) {
	t.Parallel()
	r := smallReport()
	second := r.CIs[0].Drifts[0]
	second.DriftID = "d-0003"
	r.CIs[0].Drifts = append(r.CIs[0].Drifts, second)
	_, doc := writeJUnit(t, r)
	seen := map[string]bool{}
	for _, c := range doc.Suites[0].Cases {
		if seen[c.Name] {
			t.Fatalf("two testcases named %q", c.Name)
		}
		seen[c.Name] = true
	}
	if !seen["web-02 /packages/openssl (d-0002)"] || !seen["web-02 /packages/openssl (d-0003)"] {
		t.Fatalf("cases %v lack the drift ids of the two drifts on one field", seen)
	}
}

func TestWriteJUnitReturnsTheWritersError(t *testing.T) {
	t.Parallel()
	if err := export.WriteJUnit(failingWriter{}, smallReport()); !errors.Is(err, errDiskFull) {
		t.Fatalf("error %v, want one wrapping %v", err, errDiskFull)
	}
}
