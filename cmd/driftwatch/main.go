// Command driftwatch runs the drift detection pipeline, its read models and its HTTP API, and
// speaks that API for people and pipelines.
//
//	driftwatch serve [flags]          everything in one process (embedded defaults)
//	driftwatch worker <stage> [flags] one stage alone, over Redis, to scale out
//	driftwatch check [flags]          exit 0 when the CIs are in sync, 1 with drift, 2 on error
//	driftwatch events list|show|ack|remediate|tail     read and act on drifts
//	driftwatch audit <ci-id>          a CI's history, as of a moment
//	driftwatch rebuild                rebuild the read models (driftwatch stopped)
//	driftwatch remediate|quarantine|release <drift-id> ask a running driftwatch for an action
//	driftwatch token create|list|revoke     manage API tokens
//	driftwatch version                what was built
//
// Every command prints its usage on stdout and exits 0 with --help; a usage error is one
// line on stderr and exit code 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"go.uber.org/zap"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: driftwatch <command> [flags] [arguments]

Run:
  serve                 the pipeline, the read models and the HTTP API in one process
  worker <stage>        one stage alone over Redis (stages: ingest, enrich, diff, policy, emit, action, notify, docker-source)
  rebuild               rebuild the read models from the event store (driftwatch stopped)
  bench                 measure throughput and latency (about 15 minutes)

Speak a running driftwatch's API (--api URL or $DRIFTWATCH_API, --token or $DRIFTWATCH_TOKEN):
  check                 are the CIs in sync? exit 0 in sync, 1 drift open or unverified, 2 error
  events list|show|ack|remediate|tail
                        list, show, acknowledge and remediate drifts; follow them as they happen
  audit <ci-id>         a CI's history of facts, as of a moment (--as-of)
  remediate <drift-id>  perform the remediation the drift's policy names (also: events remediate)
  quarantine <drift-id> quarantine the drift's container; release <drift-id> releases it
  token create|list|revoke
                        manage API tokens (admin)

  version               print driftwatch's version (also --version)
  help                  print this help

"driftwatch <command> --help" shows a command's flags. Exit codes: 0 done, 1 failed,
2 bad usage (check: 2 for any error).
`

// run parses the command line, runs the command until it ends or SIGINT or SIGTERM, and
// returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageError(stderr, "", "missing command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	switch {
	case cmd == "serve" || cmd == "worker":
		return runEngine(ctx, cmd, rest, stdout, stderr)
	case cmd == "quarantine" || cmd == "release" || cmd == "remediate":
		return remediate(ctx, cmd, rest, stdout, stderr)
	case cmd == "rebuild":
		return rebuildCommand(ctx, rest, stdout, stderr)
	case cmd == "token":
		return tokenCommand(ctx, rest, stdout, stderr)
	case cmd == "bench":
		return benchCommand(ctx, rest, stdout, stderr)
	case cmd == "check":
		return checkCommand(ctx, rest, stdout, stderr)
	case cmd == "events":
		return eventsCommand(ctx, rest, stdout, stderr)
	case cmd == "audit":
		return auditCommand(ctx, rest, stdout, stderr)
	case cmd == "version" || cmd == "--version" || cmd == "-version":
		return versionCommand(rest, stdout, stderr)
	case isHelp(cmd):
		fmt.Fprint(stdout, usage)
		return exitOK
	case strings.HasPrefix(cmd, "-"):
		return usageError(stderr, "", "unknown flag %q before the command", cmd)
	}
	return usageError(stderr, "", "unknown command %q", cmd)
}

// engineEnv ends the help of serve and worker: the environment their flags default to.
const engineEnv = `Flags default to the environment: DRIFTWATCH_DATA_DIR, DRIFTWATCH_REDIS_URL,
DRIFTWATCH_EVENTSTORE_URL, DRIFTWATCH_HTTP, DRIFTWATCH_STAGES, DRIFTWATCH_CONSUMER,
DRIFTWATCH_LOG_LEVEL, DRIFTWATCH_DOCKER_HOST, DRIFTWATCH_DOCKER_SELECTOR,
DRIFTWATCH_QUARANTINE_NETWORK, DRIFTWATCH_UNCHANGED_EVERY, DRIFTWATCH_REDIS_CLAIM_IDLE,
DRIFTWATCH_REDIS_TRIM_INTERVAL, DRIFTWATCH_EXPECTED_INTERVAL, DRIFTWATCH_COMPLIANCE_RULES,
DRIFTWATCH_NETBOX_URL, DRIFTWATCH_NETBOX_CACHE_TTL, DRIFTWATCH_NETBOX_CHANGES_EVERY,
DRIFTWATCH_TEMPLATES_DIR, DRIFTWATCH_TEMPLATES_EVERY, DRIFTWATCH_NOTIFY_CONFIG,
DRIFTWATCH_PPROF. NetBox's token and webhook secret come from the environment only:
DRIFTWATCH_NETBOX_TOKEN, DRIFTWATCH_NETBOX_WEBHOOK_SECRET.
`

const serveUsage = `usage: driftwatch serve [flags]

Runs the pipeline's stages, the read models and the HTTP API in one process, on the embedded
event store and bus (data in --data-dir) or on Redis Streams (--redis) and EventStoreDB
(--eventstore), until SIGINT or SIGTERM. The notify stage runs when --notify-config is given.

` + engineEnv

const workerUsage = `usage: driftwatch worker <stage> --redis URL --eventstore URL [flags]

Runs one stage alone, over Redis Streams and the event store every process shares, so that
stages scale out as processes. Stages: ingest, enrich, diff, policy, emit, action, notify
(with --notify-config), and docker-source (the Docker watcher; it needs --redis and
--docker-host only).

` + engineEnv

// runEngine is `driftwatch serve` and `driftwatch worker <stage>`: it runs until ctx ends.
func runEngine(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	c, err := engineFlags(fs, cmd == "serve")
	if err != nil {
		return usageError(stderr, cmd, "%v", err)
	}
	text, argNames := serveUsage, []string(nil)
	if cmd == "worker" {
		text, argNames = workerUsage, []string{"stage"}
	}
	pos, code, ok := parseCLI(fs, text, args, argNames, stdout, stderr)
	if !ok {
		return code
	}
	if cmd == "worker" {
		c.Stages = pos[0]
		if roles := append(stageNames(), "docker-source"); !slices.Contains(roles, c.Stages) {
			return usageError(stderr, cmd, "unknown stage %q: want one of %s", c.Stages, strings.Join(roles, ", "))
		}
	}
	if err := c.validate(); err != nil {
		return usageError(stderr, cmd, "%v", err)
	}
	log, err := newLogger(c.LogLevel)
	if err != nil {
		return usageError(stderr, cmd, "--log-level: %v", err)
	}
	defer func() { _ = log.Sync() }()
	if cmd == "serve" {
		err = serve(ctx, *c, log)
	} else {
		err = worker(ctx, *c, log)
	}
	if err != nil && !stopped(ctx, err) {
		log.Error("Driftwatch stopped", zap.Error(err))
		return exitFailed
	}
	log.Info("Driftwatch stopped")
	return exitOK
}

// stopped reports whether err only says that ctx ended: a signal asked the process to stop,
// and a clean shutdown is no failure.
func stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
