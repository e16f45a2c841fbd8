package main

import (
	"context"
	"errors"
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, tokenUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	fs := flag.NewFlagSet("driftwatch token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	c := clientFlags(fs)
	var err error
	switch args[0] {
	case "create":
		name := fs.String("name", "", "what the token is for (shown in lists and on what it does)")
		role := fs.String("role", "", "viewer, operator or admin")
		if code, ok := parseCLI(fs, args[1:], 0, stdout, stderr); !ok {
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
		if code, ok := parseCLI(fs, args[1:], 0, stdout, stderr); !ok {
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
		if code, ok := parseCLI(fs, args[1:], 1, stdout, stderr); !ok {
			return code
		}
		err = c.call(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(fs.Arg(0))+"?reason="+url.QueryEscape(*reason), nil, http.StatusNoContent, nil)
		if err == nil {
			fmt.Fprintf(stderr, "revoked token %s\n", fs.Arg(0))
		}
	default:
		fmt.Fprintf(stderr, "driftwatch token: unknown subcommand %q\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch token %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// parseCLI parses a CLI command's flags, wanting nargs arguments: --help prints usage and
// exits 0; a usage error prints one line and exits 2. ok is false when the command stops.
func parseCLI(fs *flag.FlagSet, args []string, nargs int, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		fs.PrintDefaults()
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", fs.Name(), err)
		return 2, false
	case fs.NArg() != nargs:
		fmt.Fprintf(stderr, "%s: want %d argument(s), got %d (see --help)\n", fs.Name(), nargs, fs.NArg())
		return 2, false
	}
	return 0, true
}
