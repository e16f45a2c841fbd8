package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

const eventsUsage = `usage:
  driftwatch events list [--status S] [--ci ID] [--category C] [--severity S] [--limit N] [--format table|json]
  driftwatch events show [--format table|json] <drift-id>
  driftwatch events ack [--comment TEXT] [--by NAME] [--format table|json] <drift-id>
  driftwatch events remediate [--by NAME] [--reason TEXT] [--wait DURATION] <drift-id>
  driftwatch events tail [--redis URL]

list, show and tail need a viewer token, ack and remediate an operator token (--token or
$DRIFTWATCH_TOKEN; --api or $DRIFTWATCH_API names the server). list pages through every match
(--limit caps it); json prints the API's drifts as they are. ack acknowledges an open drift
(suppresses its alerts); remediate asks for the remediation of the drift's policy and waits
for its outcome (exit 0 when it succeeded or is still running). tail follows drifts as they
happen until interrupted, one JSON line (a CloudEvent) per event: with --redis from the
drift.detected stream on Redis, else from the API's stream (detected, updated, acknowledged
and resolved).

Exit codes: 0 done, 1 the API refused or failed, 2 bad usage.
`

// eventsCommand is `driftwatch events list|show|ack|remediate|tail`.
func eventsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, args, code, ok := subcommand("events", eventsUsage, args, stdout, stderr)
	if !ok {
		return code
	}
	name := "events " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := clientFlags(fs)
	switch sub {
	case "list":
		return eventsList(ctx, c, fs, args, stdout, stderr)
	case "show", "ack":
		format := fs.String("format", "table", "table or json")
		comment, by := new(string), new(string)
		if sub == "ack" {
			fs.StringVar(comment, "comment", "", "why, recorded with the acknowledgement")
			fs.StringVar(by, "by", env("USER", ""), "who acknowledges, recorded with it")
		}
		pos, code, ok := parseCLI(fs, eventsUsage, args, []string{"drift-id"}, stdout, stderr)
		if !ok {
			return code
		}
		if err := oneOf("format", *format, "table", "json"); err != nil {
			return usageError(stderr, name, "%v", err)
		}
		path := "/drift/events/" + url.PathEscape(pos[0])
		var raw json.RawMessage
		var err error
		if sub == "ack" {
			err = c.call(ctx, http.MethodPost, path+"/acknowledge", map[string]string{"by": *by, "comment": *comment}, http.StatusOK, &raw)
		} else {
			err = c.call(ctx, http.MethodGet, path, nil, http.StatusOK, &raw)
		}
		if err != nil {
			return failure(stderr, name, exitFailed, err)
		}
		if err := printDrift(stdout, *format, raw); err != nil {
			return failure(stderr, name, exitFailed, err)
		}
		return exitOK
	case "remediate":
		a := actionFlags(fs)
		pos, code, ok := parseCLI(fs, eventsUsage, args, []string{"drift-id"}, stdout, stderr)
		if !ok {
			return code
		}
		return a.request(ctx, c, name, pos[0], "remediate", stdout, stderr)
	case "tail":
		return eventsTail(ctx, c, fs, args, stdout, stderr)
	}
	return usageError(stderr, "events", "unknown subcommand %q", sub)
}

// eventsList is `driftwatch events list`.
func eventsList(ctx context.Context, c *apiClient, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) int {
	status := fs.String("status", "", "open, acknowledged or resolved; default all")
	ci := fs.String("ci", "", "only this CI's drifts")
	category := fs.String("category", "", "only drifts of this SPEC-080 category")
	severity := fs.String("severity", "", "only drifts of this severity: low, medium, high, critical")
	limit := fs.Int("limit", 0, "list at most this many drifts; 0: all")
	format := fs.String("format", "table", "table or json")
	if _, code, ok := parseCLI(fs, eventsUsage, args, nil, stdout, stderr); !ok {
		return code
	}
	var bad error
	switch {
	case *status != "" && !drift.Status(*status).Valid():
		bad = fmt.Errorf("--status: %q is not one of open, acknowledged, resolved", *status)
	case *category != "" && !drift.Category(*category).Valid():
		bad = fmt.Errorf("--category: %q is not a SPEC-080 category", *category)
	case *severity != "" && !drift.Severity(*severity).Valid():
		bad = fmt.Errorf("--severity: %q is not one of low, medium, high, critical", *severity)
	case *limit < 0:
		bad = fmt.Errorf("--limit: %d is negative", *limit)
	default:
		bad = oneOf("format", *format, "table", "json")
	}
	if bad != nil {
		return usageError(stderr, "events list", "%v", bad)
	}
	q := url.Values{}
	for k, v := range map[string]string{"status": *status, "ci": *ci, "category": *category, "severity": *severity} {
		if v != "" {
			q.Set(k, v)
		}
	}
	raw, views, err := c.listDrifts(ctx, q, *limit)
	if err != nil {
		return failure(stderr, "events list", exitFailed, err)
	}
	if *format == "json" {
		err = printJSON(stdout, map[string]any{"items": nonNil(raw), "total": len(raw)})
	} else {
		err = driftTable(stdout, views)
	}
	if err != nil {
		return failure(stderr, "events list", exitFailed, err)
	}
	return exitOK
}

// driftTable writes one aligned row per drift.
func driftTable(w io.Writer, views []driftView) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRIFT\tSTATUS\tCI\tFIELD\tCATEGORY\tSEVERITY\tDESIRED\tACTUAL\tDETECTED")
	for _, d := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orDash(d.DriftID), d.Status, orDash(d.CIID), orDash(d.Field),
			d.Category, d.Severity, short(d.Desired, 30), short(d.Actual, 30), when(d.DetectedAt))
	}
	return tw.Flush()
}

// printDrift writes one drift: as the API gave it (json), or one aligned line per member.
func printDrift(w io.Writer, format string, raw json.RawMessage) error {
	if format == "json" {
		return printJSON(w, raw)
	}
	var d driftView
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("decode the drift: %w", err)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("drift", orDash(d.DriftID))
	row("status", string(d.Status))
	row("ci", orDash(d.CIID)+" ("+orDash(d.CIType)+")")
	row("field", orDash(d.Field))
	row("category", string(d.Category))
	row("severity", string(d.Severity))
	row("desired", short(d.Desired, 200))
	row("actual", short(d.Actual, 200))
	if len(d.FirstActual) > 0 {
		row("first actual", short(d.FirstActual, 200))
	}
	row("detail", orDash(d.Detail))
	row("template", orDash(d.TemplateID))
	row("policy", orDash(d.PolicyID))
	row("detected", when(d.DetectedAt))
	if !d.UpdatedAt.IsZero() {
		row("updated", when(d.UpdatedAt))
	}
	if !d.AcknowledgedAt.IsZero() {
		row("acknowledged", when(d.AcknowledgedAt)+" by "+orDash(d.AcknowledgedBy)+": "+orDash(d.AckComment))
	}
	if !d.ResolvedAt.IsZero() {
		row("resolved", when(d.ResolvedAt)+": "+orDash(d.ResolutionReason))
	}
	return tw.Flush()
}

// printJSON writes v indented, with one final newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// nonNil is items, or an empty list, so that JSON says [] rather than null.
func nonNil(items []json.RawMessage) []json.RawMessage {
	if items == nil {
		return []json.RawMessage{}
	}
	return items
}
