// Package testenv lets tests that need a real component (redis-server, the Docker daemon,
// ansible, Chromium, the conformance data) skip with a clear message on a machine without it,
// and fail instead when DRIFTWATCH_REQUIRE_ALL=1, as CI sets.
package testenv

import (
	"os"
	"testing"
)

// RequireAll reports whether missing components must fail tests instead of skipping them.
func RequireAll() bool { return os.Getenv("DRIFTWATCH_REQUIRE_ALL") == "1" }

// Missing skips the test, or fails it under DRIFTWATCH_REQUIRE_ALL=1, with a message naming
// the missing component and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("DRIFTWATCH_REQUIRE_ALL=1 but "+format, args...)
	}
	t.Skipf(format, args...)
}
