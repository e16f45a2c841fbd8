package capture_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/agent/redact"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

func options(t *testing.T, hashOnly ...string) capture.Options {
	t.Helper()
	r, err := redact.New([]byte("0123456789abcdef0123"), hashOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	return capture.Options{Redactor: r, MaxTextBytes: 64}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestCaptureClassifiesEveryKindOfPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretDir := filepath.Join(dir, "vault")
	o := options(t, filepath.Join(dir, "shadow"))
	write(t, filepath.Join(dir, "text"), "a = 1\npassword = hunter2hunter\n", 0o640)
	write(t, filepath.Join(dir, "shadow"), "root:$6$secret:1::::::\n", 0o600)
	write(t, filepath.Join(dir, "binary"), "ab\x00cd", 0o644)
	write(t, filepath.Join(dir, "latin1"), "caf\xe9\n", 0o644)
	write(t, filepath.Join(dir, "large"), strings.Repeat("x", 65), 0o644)
	write(t, filepath.Join(dir, "empty"), "", 0o644)
	if err := os.Mkdir(secretDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("text", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		path string
		want capture.File
		text bool
	}{
		"hashes_and_masks_a_text_file": {"text", capture.File{SHA256: sum("a = 1\npassword = hunter2hunter\n"), Mode: "0640", Size: 31, Kind: capture.KindText}, true},
		"never_reads_a_hash_only_file": {"shadow", capture.File{SHA256: sum("root:$6$secret:1::::::\n"), Mode: "0600", Size: 23, Kind: capture.KindHashOnly}, false},
		"treats_nul_bytes_as_binary":   {"binary", capture.File{SHA256: sum("ab\x00cd"), Mode: "0644", Size: 5, Kind: capture.KindBinary}, false},
		"treats_bad_utf8_as_binary":    {"latin1", capture.File{SHA256: sum("caf\xe9\n"), Mode: "0644", Size: 5, Kind: capture.KindBinary}, false},
		"hashes_a_large_file_only":     {"large", capture.File{SHA256: sum(strings.Repeat("x", 65)), Mode: "0644", Size: 65, Kind: capture.KindLarge}, false},
		"reports_an_empty_file":        {"empty", capture.File{SHA256: sum(""), Mode: "0644", Size: 0, Kind: capture.KindText}, true},
		"reports_a_missing_file":       {"missing", capture.Absent, false},
		"reports_a_path_under_a_file":  {"text/below", capture.Absent, false},
		"describes_a_directory":        {"vault", capture.File{Mode: "0750", Kind: capture.KindDirectory}, false},
		"follows_a_link_and_names_it":  {"link", capture.File{SHA256: sum("a = 1\npassword = hunter2hunter\n"), Mode: "0640", Size: 31, Kind: capture.KindText, Link: "text"}, true},
		"reports_a_dangling_link":      {"dangling", capture.File{Kind: capture.KindAbsent, Link: "nowhere"}, false},
		"never_opens_a_fifo":           {"fifo", capture.File{Mode: "0600", Kind: capture.KindOther}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := capture.Capture(filepath.Join(dir, c.path), o)
			if err != nil {
				t.Fatal(err)
			}
			got := res.File
			got.UID, got.GID = 0, 0
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			if (res.Text != nil) != c.text {
				t.Fatalf("text %q, want text: %v", res.Text, c.text)
			}
			if bytes.Contains(res.Text, []byte("hunter2hunter")) {
				t.Fatalf("the text keeps the secret: %q", res.Text)
			}
		})
	}
}

func TestFilesEncodeCanonicallyAndRoundTrip(t *testing.T) {
	t.Parallel()
	files := map[string]capture.File{
		"a": capture.Absent, "b": {SHA256: "x", Mode: "0644", Kind: capture.KindText, UID: 1000, GID: 42, Size: 7},
		"c": {Kind: capture.KindAbsent, Link: "nowhere"}, "d": {Mode: "0755", Kind: capture.KindDirectory, Link: "<&> \"q\""},
	}
	raw, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"kind":"absent"},"b":{"gid":42,"kind":"text","mode":"0644","sha256":"x","size":7,"uid":1000},` +
		`"c":{"kind":"absent","link":"nowhere"},"d":{"gid":0,"kind":"directory","link":"\u003c\u0026\u003e \"q\"","mode":"0755","size":0,"uid":0}}`
	if string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
	if c, err := drift.Canonical(raw); err != nil || string(c) != string(raw) {
		t.Fatalf("not canonical: %s (%v)", c, err)
	}
	var back map[string]capture.File
	if err := json.Unmarshal(raw, &back); err != nil || len(back) != 4 || back["b"] != files["b"] || back["d"] != files["d"] || back["c"] != files["c"] {
		t.Fatalf("round trip %+v (%v)", back, err)
	}
}

func TestDetailShowsWhatChangedAndNothingElse(t *testing.T) {
	t.Parallel()
	text := func(sha string, size int64) capture.File {
		return capture.File{SHA256: sha, Mode: "0644", Size: size, Kind: capture.KindText}
	}
	cases := map[string]struct {
		old, new         capture.File
		oldText, newText string
		want             []string
		not              []string
	}{
		"diffs_text_as_a_unified_diff": {text("a", 4), text("b", 4), "a\nb\n", "a\nc\n",
			[]string{"--- a/etc/x\n", "+++ b/etc/x\n", "-b\n", "+c\n"}, []string{"mode"}},
		"names_a_mode_change_alone": {text("a", 1), capture.File{SHA256: "a", Mode: "0600", Size: 1, Kind: capture.KindText}, "a", "a",
			[]string{"mode 0644 -> 0600"}, []string{"---"}},
		"names_an_owner_change_alone": {text("a", 1), capture.File{SHA256: "a", Mode: "0644", UID: 1000, GID: 1000, Size: 1, Kind: capture.KindText}, "a", "a",
			[]string{"owner 0:0 -> 1000:1000"}, []string{"---"}},
		"marks_hash_only_content": {capture.File{SHA256: "a", Kind: capture.KindHashOnly, Size: 3}, capture.File{SHA256: "b", Kind: capture.KindHashOnly, Size: 4}, "", "",
			[]string{capture.MarkerHashOnly, "size 3 -> 4"}, []string{"---"}},
		"marks_binary_content": {capture.File{SHA256: "a", Kind: capture.KindBinary}, capture.File{SHA256: "b", Kind: capture.KindBinary}, "", "",
			[]string{capture.MarkerBinary}, nil},
		"shows_a_created_file_whole": {capture.Absent, text("b", 2), "", "new\n",
			[]string{"created /etc/x", "+new\n"}, nil},
		"says_a_file_was_removed": {text("a", 4), capture.Absent, "old\n", "",
			[]string{"removed /etc/x", "-old\n"}, nil},
		"marks_a_missing_last_line_newline": {text("a", 1), text("b", 1), "x\n", "y",
			[]string{"+y\n\\ No newline at end of file"}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var oldText, newText []byte
			if c.oldText != "" || c.old.Kind == capture.KindText {
				oldText = []byte(c.oldText)
			}
			if c.newText != "" || c.new.Kind == capture.KindText {
				newText = []byte(c.newText)
			}
			d := capture.Detail("/etc/x", c.old, c.new, oldText, newText)
			for _, w := range c.want {
				if !strings.Contains(d, w) {
					t.Errorf("detail %q lacks %q", d, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(d, n) {
					t.Errorf("detail %q has %q", d, n)
				}
			}
		})
	}
}

func TestDetailIsEmptyWithoutChangeAndCutWhenLong(t *testing.T) {
	t.Parallel()
	f := capture.File{SHA256: "a", Mode: "0644", Kind: capture.KindText}
	if d := capture.Detail("/x", f, f, []byte("a"), []byte("a")); d != "" {
		t.Fatalf("detail %q for no change", d)
	}
	g := f
	g.SHA256 = "b"
	d := capture.Detail("/x", f, g, nil, []byte(strings.Repeat("line\n", 10000)))
	if len(d) > capture.MaxDetailBytes || !strings.Contains(d, "diff cut") {
		t.Fatalf("detail of %d bytes was not cut", len(d))
	}
}
