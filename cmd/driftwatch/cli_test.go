package main_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cliResult is what one run of the driftwatch binary printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the driftwatch binary with args until it exits (at most a minute), with the
// API settings of the environment cleared.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, driftwatchBinary(t), args...)
	cmd.Env = append(os.Environ(), "DRIFTWATCH_API=", "DRIFTWATCH_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("driftwatch %q: %v", args, err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// cli runs the driftwatch binary against the server with the admin token.
func (s *server) cli(args ...string) cliResult {
	s.t.Helper()
	return runCLI(s.t, append(args, "--api", s.url, "--token", adminToken)...)
}

// wantExit fails the test unless r exited with code.
func wantExit(t *testing.T, what string, r cliResult, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
}

// oneUsageLine fails the test unless r is a usage error: exit 2, nothing on stdout, and one
// line on stderr saying what is wrong and where the help is.
func oneUsageLine(t *testing.T, args []string, r cliResult) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	switch {
	case r.code != 2:
		t.Errorf("driftwatch %q exited %d, want 2; stderr %q", args, r.code, r.stderr)
	case r.stdout != "":
		t.Errorf("driftwatch %q printed %q on stdout, want nothing", args, r.stdout)
	case len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n"):
		t.Errorf("driftwatch %q printed %q on stderr, want one line", args, r.stderr)
	case !strings.HasPrefix(lines[0], "driftwatch: ") || !regexp.MustCompile(`\(see driftwatch( [a-z -]+)? --help\)$`).MatchString(lines[0]):
		t.Errorf("driftwatch %q: %q, want driftwatch: <what> (see driftwatch ... --help)", args, lines[0])
	}
}

func TestEveryCommandPrintsItsHelpOnStdoutAndExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"serve", "--help"}, {"serve", "-h"},
		{"worker", "--help"}, {"worker", "diff", "--help"}, {"worker", "docker-source", "-h"},
		{"token", "--help"}, {"token", "create", "--help"}, {"token", "list", "-h"}, {"token", "revoke", "--help"},
		{"quarantine", "--help"}, {"release", "-h"}, {"remediate", "--help"}, {"bench", "--help"}, {"rebuild", "--help"},
		{"check", "--help"}, {"audit", "--help"}, {"version", "--help"},
		{"events", "--help"}, {"events", "list", "--help"}, {"events", "show", "--help"}, {"events", "ack", "-h"},
		{"events", "remediate", "--help"}, {"events", "tail", "--help"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "usage:") || r.stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, the usage on stdout, nothing on stderr", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestEveryUsageErrorIsOneLineAndExitCodeTwo(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"--frobnicate"},
		{"serve", "--frobnicate"}, {"serve", "extra"}, {"serve", "--log-level", "loud"}, {"serve", "--redis", "http://x"},
		{"serve", "--http"},
		{"worker"}, {"worker", "nosuch"}, {"worker", "diff", "--frobnicate"}, {"worker", "diff", "enrich"},
		{"token"}, {"token", "nosuch"}, {"token", "revoke"}, {"token", "list", "--frobnicate"},
		{"quarantine"}, {"release", "d-1", "d-2"}, {"quarantine", "--wait", "soon", "d-1"},
		{"remediate"}, {"rebuild", "extra"}, {"rebuild", "--frobnicate"},
		{"bench", "extra"}, {"version", "extra"},
		{"check", "--format", "xml"}, {"check", "--frobnicate"}, {"check", "--category", "weather"}, {"check", "extra"},
		{"events"}, {"events", "nosuch"}, {"events", "show"}, {"events", "ack", "a", "b"},
		{"events", "list", "--status", "maybe"}, {"events", "list", "--format", "yaml"}, {"events", "remediate"},
		{"events", "tail", "extra"},
		{"audit"}, {"audit", "web-01", "--as-of", "yesterday"}, {"audit", "web-01", "--format", "csv"},
	} {
		t.Run(strings.Join(append([]string{"args"}, args...), "_"), func(t *testing.T) {
			t.Parallel()
			oneUsageLine(t, args, runCLI(t, args...))
		})
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	t.Parallel()
	want := regexp.MustCompile(`^driftwatch \S+ \((rev [0-9a-f]{1,12}(, modified)?, )?go1\.\d+\S*\)\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, args...)
		if r.code != 0 || !want.MatchString(r.stdout) || r.stderr != "" {
			t.Errorf("driftwatch %q: exit %d, stdout %q, stderr %q; want 0 and %s", args, r.code, r.stdout, r.stderr, want)
		}
	}
}
