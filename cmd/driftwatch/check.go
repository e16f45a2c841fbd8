package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections/export"
)

const checkUsage = `usage: driftwatch check [--ci ID]... [--category C]... [--format table|json|junit|sarif] [--api URL] [--token T]

Reads the CIs and their unresolved (open or acknowledged) drifts from a running driftwatch
(viewer token) and reports them, for CI pipelines. Without --ci, every CI the server knows is
checked; a --ci the server does not know counts as never verified. --category keeps only the
drifts of those categories. json is the report as export.Report; junit is JUnit XML (one
failing test case per drift, an error per stale or never verified CI); sarif is SARIF 2.1.0
(one result per drift).

Exit code 0 when every selected CI is in sync (verified, no unresolved drift), 1 when a drift
is open or acknowledged or a CI is stale or was never verified, 2 on any error (server
unreachable, refused token, bad flags).
`

// checkCommand is `driftwatch check`.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	c := clientFlags(fs)
	var cis, categories listFlag
	fs.Var(&cis, "ci", "a CI to check (repeat for more); default every CI")
	fs.Var(&categories, "category", "report only drifts of this category (repeat for more)")
	format := fs.String("format", "table", "table, json, junit or sarif")
	if _, code, ok := parseCLI(fs, checkUsage, args, nil, stdout, stderr); !ok {
		return code
	}
	if err := oneOf("format", *format, "table", "json", "junit", "sarif"); err != nil {
		return usageError(stderr, "check", "%v", err)
	}
	for _, cat := range categories {
		if !drift.Category(cat).Valid() {
			return usageError(stderr, "check", "--category: %q is not a SPEC-080 category", cat)
		}
	}
	rep, err := readReport(ctx, c, cis, categories)
	if err != nil {
		return failure(stderr, "check", exitUsage, err)
	}
	if err := writeReport(stdout, *format, rep); err != nil {
		return failure(stderr, "check", exitUsage, err)
	}
	for _, ci := range rep.CIs {
		if ci.Status != export.StatusInSync {
			return exitFailed
		}
	}
	return exitOK
}

// readReport reads the selected CIs (all when cis is empty) and their unresolved drifts of
// the given categories (all when empty).
func readReport(ctx context.Context, c *apiClient, cis, categories []string) (export.Report, error) {
	rep := export.Report{Generated: time.Now().UTC(), Server: c.api, CIs: []export.CI{}}
	if len(cis) > 0 || len(categories) > 0 {
		rep.Filters = map[string]string{}
		if len(cis) > 0 {
			rep.Filters["ci"] = strings.Join(cis, ",")
		}
		if len(categories) > 0 {
			rep.Filters["category"] = strings.Join(categories, ",")
		}
	}
	rawCIs, err := c.listAll(ctx, "/drift/cis", nil, 0)
	if err != nil {
		return rep, fmt.Errorf("list CIs: %w", err)
	}
	known := map[string]ciView{}
	var order []string
	for _, raw := range rawCIs {
		var ci ciView
		if err := json.Unmarshal(raw, &ci); err != nil {
			return rep, fmt.Errorf("decode a CI: %w", err)
		}
		known[ci.CIID] = ci
		order = append(order, ci.CIID)
	}
	if len(cis) > 0 {
		order = slices.Compact(slices.Sorted(slices.Values(cis)))
	}
	drifts, err := unresolved(ctx, c, cis, categories)
	if err != nil {
		return rep, err
	}
	for _, id := range order {
		ci, ok := known[id]
		if !ok {
			ci = ciView{CIID: id, Verification: export.StatusNeverVerified}
		}
		rep.CIs = append(rep.CIs, reportCI(ci, drifts[id], c.api))
	}
	return rep, nil
}

// unresolved reads the open and acknowledged drifts of the selected CIs and categories, by
// CI. The API filters by one value per parameter; the rest is filtered here.
func unresolved(ctx context.Context, c *apiClient, cis, categories []string) (map[string][]driftView, error) {
	out := map[string][]driftView{}
	for _, status := range []drift.Status{drift.StatusOpen, drift.StatusAcknowledged} {
		q := url.Values{"status": {string(status)}}
		if len(cis) == 1 {
			q.Set("ci", cis[0])
		}
		if len(categories) == 1 {
			q.Set("category", categories[0])
		}
		_, views, err := c.listDrifts(ctx, q, 0)
		if err != nil {
			return nil, fmt.Errorf("list %s drifts: %w", status, err)
		}
		for _, d := range views {
			if (len(cis) == 0 || slices.Contains(cis, d.CIID)) &&
				(len(categories) == 0 || slices.Contains(categories, string(d.Category))) {
				out[d.CIID] = append(out[d.CIID], d)
			}
		}
	}
	return out, nil
}

// reportCI is one CI of the report: stale or never verified as its verification says, else
// drifted when it has drifts, else in sync.
func reportCI(ci ciView, drifts []driftView, server string) export.CI {
	out := export.CI{ID: ci.CIID, Type: ci.CIType, TemplateID: ci.TemplateID, LastVerifiedAt: ci.verifiedAt(),
		Drifts: []export.Finding{}}
	version := 0
	if ci.Evaluation != nil {
		version = ci.Evaluation.Desired.Version
	}
	for _, d := range drifts {
		if out.Type == "" {
			out.Type = d.CIType
		}
		f := export.Finding{
			DriftID: d.DriftID, Field: d.Field, Category: d.Category, Severity: d.Severity,
			Desired: nullAbsent(d.Desired), Actual: nullAbsent(d.Actual), Detail: d.Detail,
			PolicyID: d.PolicyID, TemplateID: d.TemplateID, DetectedAt: d.DetectedAt, Status: string(d.Status),
			URL: strings.TrimSuffix(server, "/") + "/ui/#/ci/" + url.PathEscape(d.CIID),
		}
		if d.TemplateID != "" && ci.Evaluation != nil && d.TemplateID == ci.Evaluation.Desired.TemplateID {
			f.TemplateVersion = version
		}
		out.Drifts = append(out.Drifts, f)
	}
	switch {
	case ci.Verification == export.StatusStale:
		out.Status = export.StatusStale
	case ci.Verification == export.StatusNeverVerified:
		out.Status = export.StatusNeverVerified
	case len(out.Drifts) > 0:
		out.Status = export.StatusDrifted
	default:
		out.Status = export.StatusInSync
	}
	return out
}

// nullAbsent is raw, or empty when it is JSON null: a field absent on that side.
func nullAbsent(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// writeReport writes the report in the format asked for.
func writeReport(w io.Writer, format string, rep export.Report) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "junit":
		return export.WriteJUnit(w, rep)
	case "sarif":
		return export.WriteSARIF(w, rep, export.ToolInfo{Version: moduleVersion()})
	}
	return reportTable(w, rep)
}

// reportTable writes one row per CI, then one per drift, then a summary line.
func reportTable(w io.Writer, rep export.Report) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CI\tTYPE\tSTATUS\tDRIFTS\tLAST VERIFIED")
	counts := map[string]int{}
	findings := 0
	for _, ci := range rep.CIs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", orDash(ci.ID), orDash(ci.Type), ci.Status, len(ci.Drifts), when(ci.LastVerifiedAt))
		counts[ci.Status]++
		findings += len(ci.Drifts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if findings > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "DRIFT\tCI\tFIELD\tCATEGORY\tSEVERITY\tSTATUS\tDESIRED\tACTUAL")
		for _, ci := range rep.CIs {
			for _, d := range ci.Drifts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.DriftID, orDash(ci.ID), orDash(d.Field), d.Category,
					d.Severity, d.Status, short(d.Desired, 40), short(d.Actual, 40))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d CI(s): %d in sync, %d drifted (%d drift(s)), %d stale, %d never verified\n",
		len(rep.CIs), counts[export.StatusInSync], counts[export.StatusDrifted], findings,
		counts[export.StatusStale], counts[export.StatusNeverVerified])
	return err
}
