package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/driftwatch/driftwatch/cmd/driftwatch/bench"
)

const benchUsage = `usage: driftwatch bench [--quick] [--dir DIR]

Measures driftwatch's throughput and latency on this machine (about 15 minutes on 2 cores;
--quick: seconds) and prints the report as a Markdown table. Exit code 1 when a measurement
failed.
`

// benchCommand is `driftwatch bench`: it starts what it needs (a private redis-server, this
// very binary as the system under test), measures, and prints the report as a Markdown table
// on stdout. It returns 1 when a measurement failed.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a tiny load, for CI: shows the harness works; its figures mean little")
	dir := fs.String("dir", "", "keep the run's data in a fresh driftwatch-bench-* directory under this one; default a temporary directory, removed afterwards")
	if _, code, ok := parseCLI(fs, benchUsage, args, nil, stdout, stderr); !ok {
		return code
	}
	exe, err := os.Executable()
	if err != nil {
		return failure(stderr, "bench", exitFailed, err)
	}
	rep, err := bench.Run(ctx, bench.Options{Binary: exe, Dir: *dir, Quick: *quick, Out: stderr})
	if err != nil {
		return failure(stderr, "bench", exitFailed, err)
	}
	rep.Markdown(stdout)
	if len(rep.Errors) > 0 {
		return 1
	}
	return 0
}
