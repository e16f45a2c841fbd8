package main_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestTheAgentsHelpAndUsageErrors(t *testing.T) {
	t.Parallel()
	bin := agentBinary(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0}, {[]string{"-h"}, 0}, {[]string{"help"}, 0},
		{[]string{"run", "--help"}, 0}, {[]string{"enrol", "-h"}, 0}, {[]string{"keygen", "--help"}, 0},
		{[]string{"snapshot", "--help"}, 0}, {[]string{"health", "--help"}, 0},
		{nil, 2}, {[]string{"frobnicate"}, 2}, {[]string{"run", "--frobnicate"}, 2}, {[]string{"health", "extra"}, 2},
	} {
		t.Run(strings.Join(append([]string{"args"}, c.args...), "_"), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, c.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := 0
			var exit *exec.ExitError
			if err := cmd.Run(); errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr.String())
			}
			if c.code == 0 && (!strings.HasPrefix(stdout.String(), "usage:") || stderr.Len() > 0) {
				t.Fatalf("stdout %q, stderr %q; want the usage on stdout only", stdout.String(), stderr.String())
			}
			line := stderr.String()
			if c.code == 2 && (stdout.Len() > 0 || strings.Count(line, "\n") != 1 ||
				!strings.HasPrefix(line, "driftwatch-agent: ") || !strings.HasSuffix(line, "(see driftwatch-agent --help)\n")) {
				t.Fatalf("stdout %q, stderr %q; want one line on stderr", stdout.String(), line)
			}
		})
	}
}
