package auth_test

import (
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/auth"
)

func TestRolesIncludeTheOnesBelow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		have, need auth.Role
		ok         bool
	}{
		{auth.Anonymous, auth.Viewer, false}, {auth.Viewer, auth.Viewer, true}, {auth.Viewer, auth.Operator, false},
		{auth.Operator, auth.Viewer, true}, {auth.Operator, auth.Admin, false}, {auth.Admin, auth.Operator, true},
		{auth.Anonymous, auth.Anonymous, true},
	}
	for _, c := range cases {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%v allows %v: %v, want %v", c.have, c.need, got, c.ok)
		}
	}
	for _, r := range auth.Roles {
		back, err := auth.ParseRole(r.String())
		if err != nil || back != r {
			t.Errorf("role %v reads back as %v, %v", r, back, err)
		}
	}
	if _, err := auth.ParseRole("root"); err == nil || !strings.Contains(err.Error(), "viewer, operator or admin") {
		t.Errorf("parse root: %v", err)
	}
	if _, err := auth.ParseRole("anonymous"); err == nil {
		t.Error("anonymous is not a role a token can have")
	}
}

func TestSecretsAreRandomAndStoredOnlyAsTheirHash(t *testing.T) {
	t.Parallel()
	a, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := auth.NewSecret()
	if a == b || !strings.HasPrefix(a, auth.SecretPrefix) || len(a) < 40 {
		t.Fatalf("secrets %q and %q", a, b)
	}
	if err := auth.CheckSecret(a); err != nil {
		t.Fatal(err)
	}
	h := auth.Hash(a)
	if len(h) != 64 || strings.Contains(h, a) || auth.IDOf(h) != h[:16] || !auth.SameHash(h, auth.Hash(a)) || auth.SameHash(h, auth.Hash(b)) {
		t.Fatalf("hash %q of %q", h, a)
	}
	for _, bad := range []string{"short", strings.Repeat("x", 513), "has a space in it somewhere", "tab\there-is-long-enough"} {
		if auth.CheckSecret(bad) == nil {
			t.Errorf("%q accepted as a token", bad)
		}
	}
}
