package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// remediate is `driftwatch quarantine|release|remediate <drift-id>`: it asks a running
// driftwatch's API for the action on the drift's CI (remediate: the one its policy names) and prints the answer (JSON) on stdout. It returns 0 when
// the action succeeded or is still being performed, 1 when it failed or the API refused it,
// and 2 for bad usage.
func remediate(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftwatch "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := clientFlags(fs)
	by := fs.String("by", env("USER", ""), "who asks, recorded with the request")
	reason := fs.String("reason", "", "why, recorded with the request")
	wait := fs.Duration("wait", 10*time.Second, "how long the API waits for the outcome")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "driftwatch %s: need one drift id, got %q\n%s", kind, fs.Args(), usage)
		return 2
	}
	body, err := json.Marshal(map[string]string{"by": *by, "reason": *reason})
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch %s: %v\n", kind, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *wait+30*time.Second)
	defer cancel()
	var in map[string]string
	_ = json.Unmarshal(body, &in)
	status, raw, err := c.do(ctx, http.MethodPost, fmt.Sprintf("/drift/events/%s/%s?wait=%s", url.PathEscape(fs.Arg(0)), kind, *wait), in)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch %s: %v\n", kind, err)
		return 1
	}
	var answer struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(raw, &answer)
	switch {
	case status == http.StatusOK && answer.Status == "succeeded":
		fmt.Fprintf(stdout, "%s\n", raw)
		return 0
	case status == http.StatusAccepted:
		fmt.Fprintf(stdout, "%s\n", raw)
		fmt.Fprintf(stderr, "driftwatch %s: requested; the outcome was not known within %s\n", kind, *wait)
		return 0
	case status == http.StatusOK:
		fmt.Fprintf(stdout, "%s\n", raw)
		return 1
	}
	fmt.Fprintf(stderr, "driftwatch %s: %s: %s\n", kind, http.StatusText(status), raw)
	return 1
}
