package export

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// SARIF constants and GitHub code scanning's limits.
const (
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	SARIFVersion = "2.1.0"
	// GitHubMaxResults is the most results GitHub code scanning takes in one run.
	GitHubMaxResults = 25000
	// GitHubMaxGzipBytes is the largest gzipped SARIF upload GitHub code scanning takes.
	GitHubMaxGzipBytes = 10 * 1000 * 1000
)

// ToolInfo describes the driftwatch build that writes a SARIF log and the limits of the
// consumer it is for.
type ToolInfo struct {
	// Version is driftwatch's version (tool.driver.version); omitted when empty.
	Version string
	// InformationURI is an absolute URI of driftwatch's documentation; omitted when empty.
	InformationURI string
	// MaxResults is the most results written; 0 means GitHubMaxResults.
	MaxResults int
	// MaxGzipBytes is the largest the document may be once gzipped; 0 means
	// GitHubMaxGzipBytes.
	MaxGzipBytes int
}

func (t *ToolInfo) setDefaults() {
	if t.MaxResults == 0 {
		t.MaxResults = GitHubMaxResults
	}
	if t.MaxGzipBytes == 0 {
		t.MaxGzipBytes = GitHubMaxGzipBytes
	}
}

// Validate reports every problem of t at once.
func (t ToolInfo) Validate() error {
	var errs []error
	if t.InformationURI != "" {
		if u, err := url.Parse(t.InformationURI); err != nil || !u.IsAbs() {
			errs = append(errs, fmt.Errorf("information uri %q is not an absolute URI", t.InformationURI))
		}
	}
	if t.MaxResults < 0 {
		errs = append(errs, fmt.Errorf("max results %d is negative", t.MaxResults))
	}
	if t.MaxGzipBytes < 0 {
		errs = append(errs, fmt.Errorf("max gzip bytes %d is negative", t.MaxGzipBytes))
	}
	return errors.Join(errs...)
}

// candidate is one result before the cut, with what the cut needs.
type candidate struct {
	result   sarifResult
	severity drift.Severity
}

// WriteSARIF writes r to w as a SARIF 2.1.0 log of one run (see the package doc). When the
// report has more results than tool.MaxResults, or the document would gzip to more than
// tool.MaxGzipBytes, it keeps the highest-severity results and says in
// run.invocations[0].toolExecutionNotifications how many it left out. A bad tool is a
// permanent error; otherwise it fails only when w does.
func WriteSARIF(w io.Writer, r Report, tool ToolInfo) error {
	if err := tool.Validate(); err != nil {
		return fault.Permanent(fmt.Errorf("sarif tool info: %w", err))
	}
	tool.setDefaults()
	cis := sorted(r)
	rules, ruleIndex := sarifRules(cis)
	var all []candidate
	for _, ci := range cis {
		for _, d := range ci.Drifts {
			all = append(all, candidate{sarifBuild(ci, d, ruleIndex[d.Category]), d.Severity})
		}
	}
	// Cut order: highest severity first, ties in output order (CI id, field).
	priority := make([]int, len(all))
	for i := range priority {
		priority[i] = i
	}
	slices.SortStableFunc(priority, func(a, b int) int {
		return cmp.Compare(severityRank(all[b].severity), severityRank(all[a].severity))
	})
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{Name: "driftwatch", Version: tool.Version,
			InformationURI: tool.InformationURI, Rules: rules}},
	}
	keep := min(len(all), tool.MaxResults)
	for {
		kept := slices.Clone(priority[:keep])
		slices.Sort(kept)
		run.Results = make([]sarifResult, 0, keep)
		for _, i := range kept {
			run.Results = append(run.Results, all[i].result)
		}
		run.Invocations = []sarifInvocation{sarifInvocationOf(r, cis, all, priority[keep:], tool)}
		doc, err := sarifEncode(run)
		if err != nil {
			return err
		}
		size := gzipSize(doc, tool.MaxGzipBytes)
		if size <= tool.MaxGzipBytes || keep == 0 {
			if _, err := w.Write(doc); err != nil {
				return fmt.Errorf("write sarif: %w", err)
			}
			return nil
		}
		// Shrink in proportion to the excess, a little more to converge in a few rounds.
		next := int(float64(keep) * float64(tool.MaxGzipBytes) / float64(size) * 0.97)
		keep = max(0, min(next, keep-1))
	}
}

// sarifBuild makes the result of one drift.
func sarifBuild(ci CI, d Finding, ruleIndex int) sarifResult {
	msg := fmt.Sprintf("%s %s: desired %s, actual %s.", ci.ID, displayField(d.Field),
		oneLine(d.Desired), oneLine(d.Actual))
	if d.Detail != "" {
		msg += " " + d.Detail
	}
	loc := sarifLocation{LogicalLocations: []sarifLogical{{
		FullyQualifiedName: "ci/" + ci.ID + d.Field, Kind: "resource"}}}
	if path, ok := filePath(d.Field); ok {
		loc.PhysicalLocation = &sarifPhysical{}
		loc.PhysicalLocation.ArtifactLocation.URI = (&url.URL{Scheme: "file", Path: path}).String()
	}
	fingerprint := d.DriftID
	if fingerprint == "" { // an id-less drift is still told apart by where it is
		fingerprint = loc.LogicalLocations[0].FullyQualifiedName + "#" + d.PolicyID
	}
	res := sarifResult{
		RuleID: ruleID(d.Category), RuleIndex: ruleIndex, Level: sarifLevel(d.Severity),
		Message:             sarifText{Text: msg},
		Locations:           []sarifLocation{loc},
		PartialFingerprints: sarifFingerprints{V1: fingerprint},
		Properties: sarifProps{
			CIID: ci.ID, CIType: ci.Type, Field: d.Field, Category: d.Category, Severity: d.Severity,
			Status: d.Status, Desired: jsonValue(d.Desired), Actual: jsonValue(d.Actual),
			PolicyID: d.PolicyID, TemplateID: d.TemplateID, TemplateVersion: d.TemplateVersion,
			Planned: d.Planned, Ticket: d.Ticket, DetectedAt: utc(d.DetectedAt), URL: d.URL,
		},
	}
	if u, err := url.Parse(d.URL); err == nil && u.IsAbs() {
		res.HostedViewerURI = d.URL
	}
	return res
}

// sarifEncode renders the log of one run: compact, no HTML escaping, one final newline.
func sarifEncode(run sarifRun) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sarifLog{Schema: SARIFSchema, Version: SARIFVersion, Runs: []sarifRun{run}}); err != nil {
		return nil, fmt.Errorf("encode sarif: %w", err)
	}
	return buf.Bytes(), nil
}

// gzipSize is how large doc is once gzipped, or a bound above it that is at most limit. A
// document that cannot gzip past limit (gzip adds a few bytes per 16 KiB stored block) is
// not compressed; one that fits at the fastest level (which compresses least) is not
// compressed again at the default level that upload tools use.
func gzipSize(doc []byte, limit int) int {
	if len(doc)+len(doc)/1000+64 <= limit {
		return len(doc)
	}
	if n := gzipLen(doc, gzip.BestSpeed); n <= limit {
		return n
	}
	return gzipLen(doc, gzip.DefaultCompression)
}

func gzipLen(doc []byte, level int) int {
	var c counter
	zw, _ := gzip.NewWriterLevel(&c, level) // the levels used are valid
	_, _ = zw.Write(doc)                    // a counter never fails
	_ = zw.Close()
	return int(c)
}

type counter int

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }
