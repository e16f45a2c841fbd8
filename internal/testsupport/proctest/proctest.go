// Package proctest runs the project's own commands as processes for end-to-end tests: it
// builds a command's binary once per test binary, starts it with its output collected and
// stops it when the test ends (logging the tail of its output if the test failed), and gives
// the small helpers such tests share: a free address, polling with a deadline and a JSON
// request.
package proctest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollInterval is how long WaitUntil sleeps between two checks of its condition.
const pollInterval = 20 * time.Millisecond

// Buffer is a bytes.Buffer safe for a process's writers and a test's readers. The zero value
// is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n newline-separated pieces of what was written so far; output that
// ends with a newline counts the empty piece after it.
func (b *Buffer) Tail(n int) string {
	lines := strings.Split(b.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreeAddr returns a 127.0.0.1:port address that was free a moment ago: the kernel picks the
// port for a listener that is closed at once.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitUntil checks cond every 20 milliseconds until it holds, and fails the test, naming
// what it waited for, if it still does not hold once within has passed. cond is always
// checked at least once, and once more after the last sleep.
func WaitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", within, what)
		}
		time.Sleep(pollInterval)
	}
}

// DoJSON sends a request with body encoded as JSON (no body when nil) and Content-Type
// application/json, decodes a non-empty answer into out when out is not nil, and returns the
// status code. It fails the test when the request cannot be sent or the answer not decoded.
func DoJSON(t testing.TB, method, url string, body, out any) int {
	t.Helper()
	return DoJSONAs(t, "", method, url, body, out)
}

// DoJSONAs is DoJSON with Authorization: Bearer token (none when token is empty).
func DoJSONAs(t testing.TB, token, method, url string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// GetOK reports whether a GET of url answers 200 OK; a failed request is a false, not an
// error, so that it can serve as a WaitUntil condition for a process that is starting.
func GetOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
