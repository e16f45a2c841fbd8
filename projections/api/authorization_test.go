package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/projections/api"
)

// TestEveryRouteHasARoleAndRefusesTheOthers walks the one route table with no token, a
// revoked token, a made-up one and every role: anonymous callers reach /healthz and the
// dashboard's static files alone (401 elsewhere), a role below the route's gets 403, and the route's role or higher gets past the
// door (whatever the handler then says of an empty request).
func TestEveryRouteHasARoleAndRefusesTheOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	revoked, tok, _, err := f.tokenCommands().Create(t.Context(), "soon-revoked", auth.Admin, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokenCommands().Revoke(t.Context(), tok.TokenID, "test", ""); err != nil {
		t.Fatal(err)
	}
	routes := api.Routes()
	if len(routes) < 25 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	anonymous := 0
	for _, rt := range routes {
		path := strings.NewReplacer("{id}", "nonexistent").Replace(rt.Path)
		call := func(secret string) int {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond) // ends the event stream
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, rt.Method, path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if secret != "" {
				req.Header.Set("Authorization", "Bearer "+secret)
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", rt.Pattern())
			}
			return rec.Code
		}
		if rt.Role == auth.Anonymous {
			if !rt.Static {
				anonymous++
			}
			if code := call(""); code != http.StatusOK {
				t.Errorf("%s without a token: %d, want 200", rt.Pattern(), code)
			}
			continue
		}
		if rt.Static {
			t.Errorf("%s is static but needs role %s", rt.Pattern(), rt.Role)
		}
		for name, secret := range map[string]string{"no token": "", "a revoked token": revoked, "a made-up token": "dwt_" + strings.Repeat("A", 43)} {
			if code := call(secret); code != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d, want 401", rt.Pattern(), name, code)
			}
		}
		for _, role := range auth.Roles {
			code := call(f.secrets[role])
			switch {
			case !role.Allows(rt.Role) && code != http.StatusForbidden:
				t.Errorf("%s as %s (needs %s): %d, want 403", rt.Pattern(), role, rt.Role, code)
			case role.Allows(rt.Role) && (code == http.StatusForbidden || code == http.StatusUnauthorized || code == http.StatusNotFound && !strings.Contains(rt.Path, "{id}")):
				t.Errorf("%s as %s (needs %s): %d, want past the door", rt.Pattern(), role, rt.Role, code)
			}
		}
	}
	if anonymous != 1 {
		t.Errorf("%d anonymous routes besides the dashboard's static files, want /healthz alone", anonymous)
	}
}
