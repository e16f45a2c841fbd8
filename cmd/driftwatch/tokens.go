package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"
)

const tokenUsage = `usage:
  driftwatch token create --name NAME --role viewer|operator|admin [--api URL] [--token TOKEN]
  driftwatch token list [--revoked] [--api URL] [--token TOKEN]
  driftwatch token revoke [--reason TEXT] [--api URL] [--token TOKEN] <token-id>
They need an admin token. create prints the new token's secret once, on stdout.
`

// tokenCommand is `driftwatch token create|list|revoke`, over the API.
func tokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, args, code, ok := subcommand("token", tokenUsage, args, stdout, stderr)
	if !ok {
		return code
	}
	cmdName := "token " + sub
	fs := flag.NewFlagSet(cmdName, flag.ContinueOnError)
	c := clientFlags(fs)
	var err error
	switch sub {
	case "create":
		name := fs.String("name", "", "what the token is for (shown in lists and on what it does)")
		role := fs.String("role", "", "viewer, operator or admin")
		if _, code, ok := parseCLI(fs, tokenUsage, args, nil, stdout, stderr); !ok {
			return code
		}
		var out struct {
			ID     string `json:"id"`
			Role   string `json:"role"`
			Secret string `json:"secret"`
		}
		err = c.call(ctx, http.MethodPost, "/tokens", map[string]string{"name": *name, "role": *role}, http.StatusCreated, &out)
		if err == nil {
			fmt.Fprintln(stdout, out.Secret)
			fmt.Fprintf(stderr, "created token %s (%s); its secret is shown only now\n", out.ID, out.Role)
		}
	case "list":
		revoked := fs.Bool("revoked", false, "list revoked tokens too")
		if _, code, ok := parseCLI(fs, tokenUsage, args, nil, stdout, stderr); !ok {
			return code
		}
		var out struct {
			Items []struct {
				ID        string    `json:"id"`
				Name      string    `json:"name"`
				Role      string    `json:"role"`
				CreatedAt time.Time `json:"created_at"`
				CreatedBy string    `json:"created_by"`
				Revoked   bool      `json:"revoked"`
			} `json:"items"`
		}
		path := "/tokens"
		if *revoked {
			path += "?revoked=true"
		}
		if err = c.call(ctx, http.MethodGet, path, nil, http.StatusOK, &out); err == nil {
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tBY\tREVOKED")
			for _, t := range out.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", t.ID, t.Name, t.Role, t.CreatedAt.Format(time.RFC3339), t.CreatedBy, t.Revoked)
			}
			_ = tw.Flush()
		}
	case "revoke":
		reason := fs.String("reason", "", "why, recorded with the revocation")
		pos, code, ok := parseCLI(fs, tokenUsage, args, []string{"token-id"}, stdout, stderr)
		if !ok {
			return code
		}
		err = c.call(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(pos[0])+"?reason="+url.QueryEscape(*reason), nil, http.StatusNoContent, nil)
		if err == nil {
			fmt.Fprintf(stderr, "revoked token %s\n", pos[0])
		}
	default:
		return usageError(stderr, "token", "unknown subcommand %q", sub)
	}
	if err != nil {
		return failure(stderr, cmdName, exitFailed, err)
	}
	return exitOK
}
