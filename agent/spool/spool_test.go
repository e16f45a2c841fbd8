package spool_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftwatch/driftwatch/agent/spool"
)

func open(t *testing.T, path string, max int64) *spool.Spool {
	t.Helper()
	s, err := spool.Open(path, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func doc(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d}`, i)) }

// drain sends every entry and returns them in order.
func drain(t *testing.T, s *spool.Spool) []string {
	t.Helper()
	var out []string
	for {
		d, n, ok := s.Peek()
		if !ok {
			return out
		}
		out = append(out, string(d))
		if err := s.Done(n); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpoolKeepsTheNextEntryWhenTheOneInFlightWasDropped(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "spool.jsonl"), 24) // room for 3
	for i := range 3 {
		if _, err := s.Append(doc(i)); err != nil {
			t.Fatal(err)
		}
	}
	_, inFlight, _ := s.Peek()
	// While entry 0 is being sent, a new one pushes it out of the bound.
	if n, err := s.Append(doc(3)); err != nil || n != 1 {
		t.Fatalf("dropped %d (%v)", n, err)
	}
	if err := s.Done(inFlight); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s); fmt.Sprint(got) != fmt.Sprint([]string{`{"n":1}`, `{"n":2}`, `{"n":3}`}) {
		t.Fatalf("after the in-flight entry was dropped the spool holds %v", got)
	}
}

func TestSpoolKeepsOrderAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spool.jsonl")
	s := open(t, path, 1<<20)
	for i := range 5 {
		if _, err := s.Append(doc(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Two were sent before the agent stopped.
	for range 2 {
		if err := s.Pop(); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	r := open(t, path, 1<<20)
	got := drain(t, r)
	want := []string{`{"n":2}`, `{"n":3}`, `{"n":4}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reopen got %v, want %v", got, want)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Fatalf("a drained spool keeps %d bytes", fi.Size())
	}
}

func TestSpoolDropsTheOldestBeyondItsBound(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spool.jsonl")
	s := open(t, path, 40) // each entry is 8 bytes with its newline: room for 5
	dropped := 0
	for i := range 8 {
		n, err := s.Append(doc(i))
		if err != nil {
			t.Fatal(err)
		}
		dropped += n
	}
	if dropped != 3 || s.Dropped() != 3 || s.Len() != 5 || s.Bytes() != 40 {
		t.Fatalf("dropped %d (%d), len %d, bytes %d", dropped, s.Dropped(), s.Len(), s.Bytes())
	}
	_ = s.Close()
	got := drain(t, open(t, path, 40))
	if fmt.Sprint(got) != fmt.Sprint([]string{`{"n":3}`, `{"n":4}`, `{"n":5}`, `{"n":6}`, `{"n":7}`}) {
		t.Fatalf("kept %v", got)
	}
}

func TestSpoolIgnoresATornLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spool.jsonl")
	if err := os.WriteFile(path, []byte("{\"n\":1}\n{\"n\":2}\n{\"n\":"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, 1<<20)
	if _, err := s.Append(doc(3)); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s); fmt.Sprint(got) != fmt.Sprint([]string{`{"n":1}`, `{"n":2}`, `{"n":3}`}) {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolRefusesWhatItCannotHold(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "spool.jsonl"), 16)
	for name, d := range map[string][]byte{
		"refuses_a_document_over_the_bound": []byte(`{"much":"too long for it"}`),
		"refuses_a_multi_line_document":     []byte("{\n}"),
		"refuses_what_is_not_json":          []byte("nope"),
	} {
		if _, err := s.Append(d); err == nil {
			t.Errorf("%s: appended %q", name, d)
		}
	}
}

func TestSpoolCompactsSentEntriesWhileBacklogged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spool.jsonl")
	s := open(t, path, 40)
	for i := range 200 {
		if _, err := s.Append(doc(i % 10)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Pop(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if fi, _ := os.Stat(path); fi.Size() > 3*40 {
		t.Fatalf("the spool file grew to %d bytes for a bound of 40", fi.Size())
	}
}
