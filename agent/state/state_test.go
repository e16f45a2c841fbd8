package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/agent/state"
)

func TestStoreRoundTripsStateAndText(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Load(); found || err != nil {
		t.Fatalf("a fresh store has a state (%v, %v)", found, err)
	}
	st := state.State{AgentID: "a", CIID: "c", Seq: 7, Files: map[string]capture.File{"/etc/x": {SHA256: "ab", Kind: capture.KindText, Mode: "0644"}, "/etc/y": capture.Absent}}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Load()
	if err != nil || !found || got.Seq != 7 || got.Files["/etc/x"] != st.Files["/etc/x"] || got.Files["/etc/y"] != capture.Absent {
		t.Fatalf("loaded %+v (%v, %v)", got, found, err)
	}
	if err := s.SetText("/etc/x", []byte("masked text")); err != nil {
		t.Fatal(err)
	}
	if text, _ := s.Text("/etc/x"); string(text) != "masked text" {
		t.Fatalf("text %q", text)
	}
	if err := s.SetText("/etc/x", []byte{}); err != nil {
		t.Fatal(err)
	}
	if text, _ := s.Text("/etc/x"); text == nil || len(text) != 0 {
		t.Fatalf("an empty text came back as %q (nil: %v)", text, text == nil)
	}
	if err := s.SetText("/etc/x", nil); err != nil {
		t.Fatal(err)
	}
	if text, _ := s.Text("/etc/x"); text != nil {
		t.Fatalf("a forgotten text came back: %q", text)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v (%v)", fi.Mode(), err)
	}
}
