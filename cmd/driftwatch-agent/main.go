// Command driftwatch-agent is driftwatch's node agent: it watches configuration files and
// reports their state as signed observations (see package agent).
//
//	driftwatch-agent run      [--config FILE] [--log-level L]  watch and report until SIGTERM
//	driftwatch-agent enrol    [--config FILE]                  register this agent's key and CI
//	driftwatch-agent keygen   [--config FILE]                  create the key, print the enrolment
//	driftwatch-agent snapshot [--config FILE]                  print the state, a template definition
//	driftwatch-agent health   [--config FILE]                  print health.json; 1 when stale
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/agent/credential"
	"github.com/driftwatch/driftwatch/agent/redact"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage:
  driftwatch-agent run      [--config FILE] [--log-level debug|info|warn|error]
  driftwatch-agent enrol    [--config FILE]
  driftwatch-agent keygen   [--config FILE]
  driftwatch-agent snapshot [--config FILE]
  driftwatch-agent health   [--config FILE]
The config defaults to $DRIFTWATCH_AGENT_CONFIG, else /etc/driftwatch-agent/agent.yaml.
run and enrol enrol the agent with the operator's token from $DRIFTWATCH_ENROL_TOKEN, or the
file $DRIFTWATCH_ENROL_TOKEN_FILE names (run enrols only when it has a token and the agent is
not enrolled with its current key and CI yet).
`

// options are the command line.
type options struct {
	command  string
	config   string
	logLevel string
}

// run parses the command line, runs the command and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %v (see driftwatch-agent --help)\n", err)
		return 2
	}
	raw, err := os.ReadFile(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: read config: %v\n", err)
		return 2
	}
	cfg, err := agent.ParseConfig(o.config, raw)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch o.command {
	case "run":
		return runAgent(ctx, cfg, o.logLevel, stderr)
	case "enrol":
		return enrolOnce(ctx, cfg, stdout, stderr)
	case "keygen":
		return keygen(cfg, stdout, stderr)
	case "snapshot":
		return snapshot(cfg, stdout, stderr)
	case "health":
		return health(cfg, stdout, stderr)
	}
	return 2
}

// parse reads the subcommand and its flags; flags win over the environment.
func parse(args []string) (options, error) {
	var o options
	if len(args) == 0 {
		return o, errors.New("a command is required")
	}
	o.command = args[0]
	switch o.command {
	case "run", "enrol", "keygen", "snapshot", "health":
	case "help", "-h", "--help":
		return o, flag.ErrHelp
	default:
		return o, fmt.Errorf("unknown command %q", o.command)
	}
	fs := flag.NewFlagSet("driftwatch-agent "+o.command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.config, "config", envOr("DRIFTWATCH_AGENT_CONFIG", "/etc/driftwatch-agent/agent.yaml"), "agent config (YAML)")
	fs.StringVar(&o.logLevel, "log-level", envOr("DRIFTWATCH_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%s takes no arguments, got %q", o.command, fs.Args())
	}
	return o, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// enrolToken reads the operator's enrolment token from the environment; "" when none.
func enrolToken() (string, error) {
	if t := os.Getenv("DRIFTWATCH_ENROL_TOKEN"); t != "" {
		return t, nil
	}
	path := os.Getenv("DRIFTWATCH_ENROL_TOKEN_FILE")
	if path == "" {
		return "", nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read enrolment token: %w", err)
	}
	t, _, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	return t, nil
}

// runAgent runs the agent until ctx ends: keys, enrolment (when a token is given), then watch
// and report.
func runAgent(ctx context.Context, cfg agent.Config, level string, stderr io.Writer) int {
	log, err := newLogger(level)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if err := runWith(ctx, cfg, log); err != nil {
		log.Error("Agent failed", zap.Error(err))
		return 1
	}
	return 0
}

func runWith(ctx context.Context, cfg agent.Config, log *zap.Logger) error {
	key, created, err := credential.LoadOrCreateKey(cfg.Credentials.KeyFile)
	if err != nil {
		return err
	}
	if created {
		log.Info("Agent key created", zap.String("path", cfg.Credentials.KeyFile))
	}
	fp, err := credential.LoadOrCreateSecret(cfg.Redaction.FingerprintKeyFile, 32)
	if err != nil {
		return fmt.Errorf("fingerprint key: %w", err)
	}
	token, err := enrolToken()
	if err != nil {
		return err
	}
	if token != "" {
		if err := ensureEnrolled(ctx, cfg, key, token, log); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	sender, err := newSender(cfg)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg, agent.Deps{Key: key, FingerprintKey: fp, Sender: sender, Logger: log})
	if err != nil {
		_ = sender.Close()
		return err
	}
	return a.Run(ctx)
}

// keygen creates the key when missing and prints the enrolment an operator can POST to
// /agents.
func keygen(cfg agent.Config, stdout, stderr io.Writer) int {
	key, _, err := credential.LoadOrCreateKey(cfg.Credentials.KeyFile)
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
		return 1
	}
	return printJSON(stdout, stderr, credential.NewEnrolment(cfg.AgentID, []string{cfg.CIID}, key))
}

// snapshot prints the state of every watched path once.
func snapshot(cfg agent.Config, stdout, stderr io.Writer) int {
	// Only hashes are printed: a throwaway fingerprint key will do.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	red, err := redact.New(key, cfg.Redaction.HashOnly, cfg.Redaction.Patterns)
	if err == nil {
		var st json.RawMessage
		if st, err = agent.CaptureState(cfg, red); err == nil {
			var v any
			_ = json.Unmarshal(st, &v)
			return printJSON(stdout, stderr, v)
		}
	}
	fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
	return 1
}

// health prints health.json; it fails when the file is missing or was not refreshed lately.
func health(cfg agent.Config, stdout, stderr io.Writer) int {
	raw, err := os.ReadFile(filepath.Join(cfg.StateDir, agent.HealthFile))
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
		return 1
	}
	var h agent.Health
	if err := json.Unmarshal(raw, &h); err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %s: %v\n", agent.HealthFile, err)
		return 1
	}
	_, _ = stdout.Write(raw)
	if age := time.Since(h.UpdatedAt); age > 2*time.Minute {
		fmt.Fprintf(stderr, "driftwatch-agent: health is %s old: the agent is not running\n", age.Round(time.Second))
		return 1
	}
	return 0
}

func printJSON(stdout, stderr io.Writer, v any) int {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", raw)
	return 0
}

// newLogger builds the agent's zap logger (JSON on stderr) at the given level.
func newLogger(level string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg.Level = lvl
	cfg.Sampling = nil
	// Stack traces are for bugs (DPanic and above), not for failures that are expected,
	// such as a server that cannot be reached.
	return cfg.Build(zap.AddStacktrace(zap.DPanicLevel))
}
