// Command driftwatch runs the drift detection pipeline, its read models and its HTTP API.
//
//	driftwatch serve [flags]          everything in one process (embedded defaults)
//	driftwatch worker <stage> [flags] one stage alone, over Redis, to scale out
//	driftwatch quarantine|release <drift-id> ask a running driftwatch for a container action
//	driftwatch token create|list|revoke     manage API tokens
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

const usage = `usage:
  driftwatch serve [--data-dir DIR] [--redis URL] [--eventstore URL] [--http ADDR] [--stages all|none|a,b]
  driftwatch worker <ingest|enrich|diff|policy|emit|action|notify|docker-source> [--data-dir DIR] --redis URL [--eventstore URL]
  driftwatch quarantine|release|remediate [--api URL] [--by NAME] [--reason TEXT] [--wait DURATION] <drift-id>
  driftwatch token create|list|revoke ...   (see driftwatch token --help)
  driftwatch bench [--quick] [--dir DIR]
  driftwatch rebuild [--data-dir DIR] [--eventstore URL]   rebuild the read models (driftwatch stopped)
Both serve and worker take [--docker-host URL] [--docker-selector LABELS] [--quarantine-network NAME]
[--notify-config FILE] (serve runs the notify stage when it is given).
Flags also come from DRIFTWATCH_DATA_DIR, DRIFTWATCH_REDIS_URL, DRIFTWATCH_EVENTSTORE_URL,
DRIFTWATCH_HTTP, DRIFTWATCH_STAGES, DRIFTWATCH_CONSUMER, DRIFTWATCH_LOG_LEVEL,
DRIFTWATCH_DOCKER_HOST, DRIFTWATCH_DOCKER_SELECTOR, DRIFTWATCH_QUARANTINE_NETWORK, DRIFTWATCH_NOTIFY_CONFIG,
DRIFTWATCH_API.
`

// run parses the command line, runs the subcommand until SIGINT or SIGTERM, and returns the
// exit code.
func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c config
	var rest []string
	var err error
	switch args[0] {
	case "serve":
		c, rest, err = parseFlags("serve", args[1:], true)
		if err == nil && len(rest) > 0 {
			err = fmt.Errorf("serve takes no arguments, got %q", rest)
		}
	case "worker":
		if len(args) < 2 {
			err = errors.New("worker needs a stage: one of ingest, enrich, diff, policy, emit, action, notify, docker-source")
			break
		}
		c, rest, err = parseFlags("worker", args[2:], false)
		c.Stages = args[1]
		if err == nil && len(rest) > 0 {
			err = fmt.Errorf("worker takes one stage, got %q", append([]string{args[1]}, rest...))
		}
	case "quarantine", "release", "remediate":
		return remediate(ctx, args[0], args[1:], os.Stdout, stderr)
	case "token":
		return tokenCommand(ctx, args[1:], os.Stdout, stderr)
	case "bench":
		return benchCommand(ctx, args[1:], os.Stdout, stderr)
	case "rebuild":
		return rebuildCommand(ctx, args[1:], os.Stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return 0
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch: %v\n%s", err, usage)
		return 2
	}
	log, err := newLogger(c.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if args[0] == "serve" {
		err = serve(ctx, c, log)
	} else {
		err = worker(ctx, c, log)
	}
	if err != nil {
		log.Error("Driftwatch stopped", zap.Error(err))
		return 1
	}
	log.Info("Driftwatch stopped")
	return 0
}
