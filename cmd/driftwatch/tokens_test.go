package main_test

import (
	"strings"
	"testing"
)

func TestTokenCommandsCreateListAndRevoke(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	r := s.cli("token", "create", "--name", "ci-pipeline", "--role", "viewer")
	wantExit(t, "token create", r, 0)
	secret := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(secret, "dwt_") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("token create printed %q, want the secret alone", r.stdout)
	}
	wantExit(t, "check with the new viewer token", runCLI(t, "check", "--api", s.url, "--token", secret), 0)
	wantExit(t, "token create with a viewer token", runCLI(t, "token", "create", "--name", "x", "--role", "admin", "--api", s.url, "--token", secret), 1)

	r = s.cli("token", "list")
	wantExit(t, "token list", r, 0)
	var id string
	for _, row := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(row); len(f) > 2 && f[1] == "ci-pipeline" && f[2] == "viewer" {
			id = f[0]
		}
	}
	if id == "" {
		t.Fatalf("token list does not show ci-pipeline:\n%s", r.stdout)
	}
	wantExit(t, "token revoke", s.cli("token", "revoke", id, "--reason", "rotated"), 0)
	r = runCLI(t, "check", "--api", s.url, "--token", secret)
	wantExit(t, "check with a revoked token", r, 2)
	if !strings.Contains(r.stderr, "401") {
		t.Fatalf("a revoked token: %q, want a 401", r.stderr)
	}
}
