package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"
)

const auditUsage = `usage: driftwatch audit [--as-of RFC3339] [--format table|json] [--api URL] [--token T] <ci-id>

Prints a CI's history (viewer token): every fact recorded for it, in order: observations that
changed it, the desired state and policy it was judged by, drifts opened, updated,
acknowledged and resolved, actions and their outcomes. --as-of shows the history up to that
moment (RFC 3339, such as 2026-05-04T12:30:00Z). table prints time, type and a one-line
summary per fact; json prints the API's answer as it is.

Exit codes: 0 done, 1 the API refused or failed (an unknown CI), 2 bad usage.
`

// historyAnswer is GET /drift/cis/{id}/history, the members the table shows.
type historyAnswer struct {
	CIID  string `json:"ci_id"`
	AsOf  string `json:"as_of"`
	Items []struct {
		Position uint64    `json:"position"`
		Time     time.Time `json:"time"`
		Type     string    `json:"type"`
		Summary  string    `json:"summary"`
	} `json:"items"`
}

// auditCommand is `driftwatch audit <ci-id>`.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	c := clientFlags(fs)
	asOf := fs.String("as-of", "", "show the history as of this moment (RFC 3339); default now")
	format := fs.String("format", "table", "table or json")
	pos, code, ok := parseCLI(fs, auditUsage, args, []string{"ci-id"}, stdout, stderr)
	if !ok {
		return code
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(stderr, "audit", "%v", err)
	}
	q := url.Values{}
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, *asOf)
		if err != nil {
			return usageError(stderr, "audit", "--as-of: %q is not an RFC 3339 time such as 2026-05-04T12:30:00Z", *asOf)
		}
		q.Set("as_of", t.Format(time.RFC3339Nano))
	}
	raw, err := readHistory(ctx, c, pos[0], q)
	if err != nil {
		return failure(stderr, "audit", exitFailed, routeError(err, http.MethodGet, "/drift/cis/{id}/history"))
	}
	if *format == "json" {
		if _, err := fmt.Fprintf(stdout, "%s\n", raw); err != nil {
			return failure(stderr, "audit", exitFailed, err)
		}
		return exitOK
	}
	var h historyAnswer
	if err := json.Unmarshal(raw, &h); err != nil {
		return failure(stderr, "audit", exitFailed, fmt.Errorf("decode the history: %w", err))
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tSUMMARY")
	for _, it := range h.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", when(it.Time), orDash(it.Type), orDash(it.Summary))
	}
	if err := tw.Flush(); err != nil {
		return failure(stderr, "audit", exitFailed, err)
	}
	return exitOK
}

// historyPageSize is how many facts audit asks for per page: the API's most.
const historyPageSize = 1000

// readHistory reads every page of a CI's history (following next with after) and returns the
// answer as the API gave it: the first page's members, its items those of every page, without
// next.
func readHistory(ctx context.Context, c *apiClient, ci string, q url.Values) (json.RawMessage, error) {
	path := "/drift/cis/" + url.PathEscape(ci) + "/history"
	q = cloneValues(q)
	q.Set("limit", strconv.Itoa(historyPageSize))
	var doc map[string]json.RawMessage
	var items []json.RawMessage
	for {
		var raw json.RawMessage
		if err := c.call(ctx, http.MethodGet, path+"?"+q.Encode(), nil, http.StatusOK, &raw); err != nil {
			return nil, err
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  uint64            `json:"next"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("decode the history: %w", err)
		}
		if doc == nil {
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("decode the history: %w", err)
			}
			if page.Next == 0 {
				return raw, nil // one page: the answer as it is
			}
		}
		items = append(items, page.Items...)
		if page.Next == 0 || len(page.Items) == 0 {
			break
		}
		q.Set("after", strconv.FormatUint(page.Next, 10))
	}
	delete(doc, "next")
	all, err := json.Marshal(nonNil(items))
	if err != nil {
		return nil, err
	}
	doc["items"] = all
	return json.Marshal(doc)
}
