package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// historyAnswer is what GET /drift/cis/{id}/history answers, as the lead's route will.
const historyAnswer = `{"ci_id":"web-01","as_of":"2026-05-04T12:30:00Z","items":[` +
	`{"position":12,"time":"2026-05-04T12:00:00Z","type":"observation.received","stream":"observations-web-01","summary":"observed power_state off","fact":{"state_hash":"ab12"}},` +
	`{"position":15,"time":"2026-05-04T12:00:01Z","type":"drift.detected","stream":"drifts-web-01","summary":"drift on /power_state: desired \"on\", actual \"off\"","fact":{"drift_id":"d-1"}}]}`

// historyStub answers the history route for web-01 and says no CI otherwise; it records
// the queries it got.
func historyStub(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var queries []string
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		switch {
		case r.Header.Get("Authorization") != "Bearer viewer-token":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"status":401,"detail":"no valid token"}`)
		case r.Method == http.MethodGet && r.URL.Path == "/drift/cis/web-01/history":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, historyAnswer)
		case r.URL.Path == "/drift/cis/web-03/history" && r.URL.Query().Get("after") == "":
			fmt.Fprint(w, `{"ci_id":"web-03","items":[{"position":3,"time":"2026-05-04T12:00:00Z","type":"drift.detected","summary":"first"}],"next":3}`)
		case r.URL.Path == "/drift/cis/web-03/history" && r.URL.Query().Get("after") == "3":
			fmt.Fprint(w, `{"ci_id":"web-03","items":[{"position":9,"time":"2026-05-04T12:00:01Z","type":"drift.resolved","summary":"second"}]}`)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"status":404,"detail":"CI \"web-02\" does not exist"}`)
		}
	}))
	t.Cleanup(stub.Close)
	return stub, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), queries...)
	}
}

func TestAuditPrintsACIsHistory(t *testing.T) {
	t.Parallel()
	stub, queries := historyStub(t)
	api := []string{"--api", stub.URL, "--token", "viewer-token"}

	r := runCLI(t, append([]string{"audit", "web-01", "--as-of", "2026-05-04T12:30:00Z"}, api...)...)
	wantExit(t, "audit", r, 0)
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "TIME ") ||
		!strings.HasPrefix(rows[2], "2026-05-04T12:00:01Z  drift.detected") ||
		!strings.HasSuffix(rows[2], `drift on /power_state: desired "on", actual "off"`) ||
		strings.Index(rows[0], "SUMMARY") != strings.Index(rows[2], "drift on") {
		t.Fatalf("audit table, want a header and two aligned rows:\n%s", r.stdout)
	}
	if q := queries(); len(q) != 1 || q[0] != "as_of=2026-05-04T12%3A30%3A00Z&limit=1000" {
		t.Fatalf("queries %q, want as_of", q)
	}

	r = runCLI(t, append([]string{"audit", "--format", "json", "web-01"}, api...)...)
	wantExit(t, "audit --format json", r, 0)
	if r.stdout != historyAnswer+"\n" {
		t.Fatalf("audit --format json printed %q, want the answer as it is", r.stdout)
	}
	if q := queries(); q[len(q)-1] != "limit=1000" {
		t.Fatalf("without --as-of the query is %q, want the page size alone", q[len(q)-1])
	}

	// Every page, one answer.
	r = runCLI(t, append([]string{"audit", "--format", "json", "web-03"}, api...)...)
	wantExit(t, "audit of two pages", r, 0)
	if want := `{"ci_id":"web-03","items":[{"position":3,"time":"2026-05-04T12:00:00Z","type":"drift.detected","summary":"first"},` +
		`{"position":9,"time":"2026-05-04T12:00:01Z","type":"drift.resolved","summary":"second"}]}` + "\n"; r.stdout != want {
		t.Fatalf("audit of two pages printed %s, want %s", r.stdout, want)
	}

	for name, args := range map[string][]string{
		"unknown_ci": append([]string{"audit", "web-02"}, api...),
		"no_token":   {"audit", "web-01", "--api", stub.URL},
	} {
		r := runCLI(t, args...)
		wantExit(t, name, r, 1)
		if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "driftwatch: audit: ") {
			t.Fatalf("%s: stdout %q, stderr %q; want one line on stderr", name, r.stdout, r.stderr)
		}
	}
}

func TestAuditReadsARunningServersHistory(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	exercise(t, s, "web-40")
	r := s.cli("audit", "web-40")
	wantExit(t, "audit", r, 0)
	for _, typ := range []string{"drift.detected", "drift.resolved"} {
		if !strings.Contains(r.stdout, "  "+typ+"  ") {
			t.Fatalf("audit shows no %s:\n%s", typ, r.stdout)
		}
	}
	// As of a moment before anything happened, there is no history yet.
	r = s.cli("audit", "web-40", "--as-of", "2000-01-01T00:00:00Z", "--format", "json")
	wantExit(t, "audit --as-of", r, 0)
	if strings.Contains(r.stdout, "drift.detected") {
		t.Fatalf("the history as of 2000 holds a drift:\n%s", r.stdout)
	}
	wantExit(t, "audit of an unknown CI", s.cli("audit", "web-49"), 1)
}
