package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const actionUsage = `usage: driftwatch remediate|quarantine|release [flags] <drift-id>

Asks a running driftwatch for an action on the drift's CI (operator token): remediate performs
the one the drift's policy names, quarantine disconnects the container from every network but
the quarantine network, release reconnects it. Prints the answer (JSON) on stdout. Exit code 0 when the action succeeded or is still
being performed, 1 when it failed or the API refused it, 2 for bad usage.
`

// remediate is `driftwatch remediate|quarantine|release <drift-id>`.
func remediate(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	c := clientFlags(fs)
	a := actionFlags(fs)
	pos, code, ok := parseCLI(fs, actionUsage, args, []string{"drift-id"}, stdout, stderr)
	if !ok {
		return code
	}
	return a.request(ctx, c, kind, pos[0], kind, stdout, stderr)
}

// actionArgs are the flags of a command that asks for an action on a drift.
type actionArgs struct {
	by, reason string
	wait       time.Duration
}

func actionFlags(fs *flag.FlagSet) *actionArgs {
	a := &actionArgs{}
	fs.StringVar(&a.by, "by", env("USER", ""), "who asks, recorded with the request")
	fs.StringVar(&a.reason, "reason", "", "why, recorded with the request")
	fs.DurationVar(&a.wait, "wait", 10*time.Second, "how long the API waits for the outcome")
	return a
}

// request posts the action (POST /drift/events/{id}/<action>) for command cmd and prints the
// answer. It returns 0 when the action succeeded or is still being performed, 1 when it failed
// or the API refused it.
func (a *actionArgs) request(ctx context.Context, c *apiClient, cmd, driftID, action string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, a.wait+30*time.Second)
	defer cancel()
	body := map[string]string{"by": a.by}
	if a.reason != "" {
		body["reason"] = a.reason
	}
	path := fmt.Sprintf("/drift/events/%s/%s?wait=%s", url.PathEscape(driftID), action, a.wait)
	status, raw, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return failure(stderr, cmd, exitFailed, err)
	}
	var answer struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(raw, &answer)
	switch {
	case status == http.StatusOK && answer.Status == "succeeded":
		fmt.Fprintf(stdout, "%s\n", raw)
		return exitOK
	case status == http.StatusAccepted:
		fmt.Fprintf(stdout, "%s\n", raw)
		fmt.Fprintf(stderr, "driftwatch: %s: requested; the outcome was not known within %s\n", cmd, a.wait)
		return exitOK
	case status == http.StatusOK:
		fmt.Fprintf(stdout, "%s\n", raw)
		return exitFailed
	}
	return failure(stderr, cmd, exitFailed, routeError(c.answerError(status, raw), http.MethodPost, "/drift/events/{id}/"+action))
}

// routeError adds to a 404 that no route answered (rather than an unknown resource) which
// route the server lacks: it runs an older driftwatch.
func routeError(err error, method, route string) error {
	if e, ok := err.(*apiError); ok && e.Status == http.StatusNotFound && strings.HasPrefix(e.Detail, "no resource at ") {
		return fmt.Errorf("%w (this server has no %s %s route; it runs an older driftwatch)", err, method, route)
	}
	return err
}
