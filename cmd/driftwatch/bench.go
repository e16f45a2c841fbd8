package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/driftwatch/driftwatch/cmd/driftwatch/bench"
)

// benchCommand is `driftwatch bench`: it starts what it needs (a private redis-server, this
// very binary as the system under test), measures, and prints the report as a Markdown table
// on stdout. It returns 1 when a measurement failed.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftwatch bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a tiny load, for CI: shows the harness works; its figures mean little")
	dir := fs.String("dir", "", "keep the run's data in a fresh driftwatch-bench-* directory under this one; default a temporary directory, removed afterwards")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "driftwatch bench: takes no arguments, got %q\n", fs.Args())
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch bench: %v\n", err)
		return 1
	}
	rep, err := bench.Run(ctx, bench.Options{Binary: exe, Dir: *dir, Quick: *quick, Out: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch bench: %v\n", err)
		return 1
	}
	rep.Markdown(stdout)
	if len(rep.Errors) > 0 {
		return 1
	}
	return 0
}
