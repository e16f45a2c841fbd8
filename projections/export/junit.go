package export

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

// junitSuite follows JUnit.xsd: attributes and elements in the schema's order.
type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Package    string          `xml:"package,attr"`
	ID         int             `xml:"id,attr"`
	Properties junitProperties `xml:"properties"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out"`
	SystemErr  string          `xml:"system-err"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes r to w as one JUnit XML document (see the package doc for its shape).
// It fails only when w does.
func WriteJUnit(w io.Writer, r Report) error {
	doc := junitSuites{Suites: junitBuild(r)}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

// junitBuild makes one suite per CI type, suites sorted by name.
func junitBuild(r Report) []junitSuite {
	byType := map[string][]CI{}
	for _, ci := range sorted(r) {
		typ := xmlToken(ci.Type)
		if typ == "" {
			typ = "unknown"
		}
		byType[typ] = append(byType[typ], ci)
	}
	timestamp := r.Generated.UTC().Format("2006-01-02T15:04:05")
	host := junitHost(r.Server)
	var suites []junitSuite
	for i, typ := range slices.Sorted(maps.Keys(byType)) {
		s := junitSuite{
			Name: typ, Timestamp: timestamp, Hostname: host, Time: "0",
			Package: "driftwatch", ID: i, Properties: junitProps(r, typ),
		}
		var out strings.Builder
		for _, ci := range byType[typ] {
			s.Cases = append(s.Cases, junitCases(typ, ci)...)
			fmt.Fprintf(&out, "%s %s drifts=%d last_verified=%s\n", ci.ID, orDash(ci.Status),
				len(ci.Drifts), orDash(utc(ci.LastVerifiedAt)))
		}
		for _, c := range s.Cases {
			s.Tests++
			if c.Failure != nil {
				s.Failures++
			}
			if c.Error != nil {
				s.Errors++
			}
		}
		s.SystemOut = xmlText(out.String())
		suites = append(suites, s)
	}
	return suites
}

// junitCases is a CI's testcases: one failing per drift, and one named after the CI, which
// errs when the CI is unverified and passes when it has no drift.
func junitCases(typ string, ci CI) []junitCase {
	id := xmlText(ci.ID)
	var cases []junitCase
	if unverified(ci) || len(ci.Drifts) == 0 {
		c := junitCase{Name: id, Classname: typ, Time: "0"}
		if unverified(ci) {
			c.Error = &junitProblem{Type: xmlText(ci.Status), Message: xmlText(unverifiedMessage(ci)),
				Body: xmlText(ciBody(ci))}
		}
		cases = append(cases, c)
	}
	seen := map[string]int{}
	for _, d := range ci.Drifts {
		seen[d.Field]++
	}
	for _, d := range ci.Drifts {
		name := ci.ID + " " + displayField(d.Field)
		if seen[d.Field] > 1 { // keep names unique so CI servers do not merge two drifts
			name += " (" + d.DriftID + ")"
		}
		cases = append(cases, junitCase{Name: xmlText(name), Classname: typ, Time: "0",
			Failure: &junitProblem{
				Message: xmlText(driftLine(d)),
				Type:    xmlText(string(d.Category) + "/" + string(d.Severity)),
				Body:    xmlText(driftBody(d)),
			}})
	}
	return cases
}

// driftLine is the one-line summary of a drift: "field: desired X, actual Y".
func driftLine(d Finding) string {
	return flatten(fmt.Sprintf("%s: desired %s, actual %s",
		displayField(d.Field), oneLine(d.Desired), oneLine(d.Actual)))
}

// driftBody is a drift's detail and the facts a reader needs to act on it.
func driftBody(d Finding) string {
	var b strings.Builder
	if d.Detail != "" {
		b.WriteString(d.Detail)
		b.WriteString("\n\n")
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("drift_id", d.DriftID)
	line("status", d.Status)
	line("category", string(d.Category))
	line("severity", string(d.Severity))
	line("policy_id", d.PolicyID)
	line("template_id", d.TemplateID)
	if d.TemplateVersion != 0 {
		line("template_version", strconv.Itoa(d.TemplateVersion))
	}
	line("detected_at", utc(d.DetectedAt))
	line("planned", strconv.FormatBool(d.Planned))
	line("ticket", d.Ticket)
	line("url", d.URL)
	return b.String()
}

// unverifiedMessage says why a CI's drift status is unknown.
func unverifiedMessage(ci CI) string {
	if ci.Status == StatusStale {
		if ci.LastVerifiedAt.IsZero() {
			return "stale: its last verification is out of date, so its drift status is unknown"
		}
		return "stale: last verified at " + utc(ci.LastVerifiedAt) + ", so its drift status is unknown"
	}
	return "never verified: no observation was compared with its template, so its drift status is unknown"
}

// ciBody lists a CI's facts.
func ciBody(ci CI) string {
	var b strings.Builder
	for _, kv := range [][2]string{{"ci_id", ci.ID}, {"ci_type", ci.Type}, {"template_id", ci.TemplateID},
		{"status", ci.Status}, {"last_verified_at", utc(ci.LastVerifiedAt)}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
		}
	}
	return b.String()
}

// junitProps are a suite's properties: where and when the report was made, its filters and
// the suite's CI type.
func junitProps(r Report, typ string) junitProperties {
	var p []junitProperty
	add := func(name, value string) {
		p = append(p, junitProperty{Name: xmlText(name), Value: xmlText(value)})
	}
	add("ci_type", typ)
	add("generated", utc(r.Generated))
	add("server", r.Server)
	for _, k := range slices.Sorted(maps.Keys(r.Filters)) {
		if xmlToken(k) != "" { // a property name must not be empty
			add("filter."+k, r.Filters[k])
		}
	}
	return junitProperties{Property: p}
}

// junitHost is the server's host name, or "localhost" when there is none.
func junitHost(server string) string {
	if u, err := url.Parse(server); err == nil {
		if h := xmlToken(u.Hostname()); h != "" {
			return h
		}
	}
	return "localhost"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
