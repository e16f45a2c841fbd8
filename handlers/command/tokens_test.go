package command_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/projections/tokens"
)

func TestTheFirstStartWritesOneAdminTokenToAPrivateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "events")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cmds := command.Tokens{Store: store}
	file, err := cmds.Bootstrap(t.Context(), "", dir)
	if err != nil || file != filepath.Join(dir, command.AdminTokenFile) {
		t.Fatalf("bootstrap: %q, %v", file, err)
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v, %v; want mode 0600", info, err)
	}
	raw, _ := os.ReadFile(file)
	secret := strings.TrimSpace(string(raw))
	p, err := tokens.Verifier{Store: store}.Authenticate(t.Context(), secret)
	if err != nil || p.Role != auth.Admin {
		t.Fatalf("the written token: %+v, %v", p, err)
	}
	// Later starts leave it alone.
	if again, err := cmds.Bootstrap(t.Context(), "", dir); err != nil || again != "" {
		t.Fatalf("second bootstrap: %q, %v", again, err)
	}
	if raw2, _ := os.ReadFile(file); string(raw2) != string(raw) {
		t.Fatal("the token file was rewritten")
	}
	// Revoked, it stays revoked; an unknown id is not found.
	if _, err := cmds.Revoke(t.Context(), p.TokenID, "test", "rotated"); err != nil {
		t.Fatal(err)
	}
	if _, err := (tokens.Verifier{Store: store}).Authenticate(t.Context(), secret); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("a revoked token authenticates: %v", err)
	}
	if _, err := cmds.Revoke(t.Context(), "0123456789abcdef", "test", ""); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestAnAdminTokenFromTheEnvironmentIsRegisteredOnceAndStaysRevokedWhenRevoked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "events")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cmds := command.Tokens{Store: store}
	const env = "an-operator-chosen-admin-token-of-some-length"
	for range 2 {
		if file, err := cmds.Bootstrap(t.Context(), env, dir); err != nil || file != "" {
			t.Fatalf("bootstrap: %q, %v", file, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, command.AdminTokenFile)); !os.IsNotExist(err) {
		t.Fatalf("a token file was written though the environment gave the token: %v", err)
	}
	v := tokens.Verifier{Store: store}
	p, err := v.Authenticate(t.Context(), env)
	if err != nil || p.Role != auth.Admin {
		t.Fatalf("env token: %+v, %v", p, err)
	}
	if _, err := cmds.Revoke(t.Context(), p.TokenID, "test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cmds.Bootstrap(t.Context(), env, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(t.Context(), env); !errors.Is(err, auth.ErrUnknownToken) {
		t.Fatalf("a restart brought a revoked token back: %v", err)
	}
	if _, err := cmds.Bootstrap(t.Context(), "short", dir); err == nil || !strings.Contains(err.Error(), "DRIFTWATCH_ADMIN_TOKEN") {
		t.Fatalf("a weak env token: %v", err)
	}
}
