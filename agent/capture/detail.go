package capture

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// MaxDetailBytes bounds one file's detail; a longer diff is cut with a marker.
const MaxDetailBytes = 16 << 10

// Markers that stand for content a detail never shows.
const (
	MarkerHashOnly = "[hash-only: content not shown]"
	MarkerBinary   = "[binary: content not shown]"
	MarkerLarge    = "[large file: content not shown]"
)

// Detail describes for a reviewer how path changed from old to new: attribute changes first,
// then a unified diff of the redacted texts (oldText, newText), or a marker with hashes and
// sizes when either side is not shown as text. It is empty when nothing changed.
func Detail(path string, old, new File, oldText, newText []byte) string {
	if old == new {
		return ""
	}
	var b strings.Builder
	switch {
	case old.Kind == KindAbsent && new.Kind != KindAbsent:
		fmt.Fprintf(&b, "created %s (%s, mode %s, owner %d:%d, %d bytes)\n", path, new.Kind, new.Mode, new.UID, new.GID, new.Size)
	case new.Kind == KindAbsent && old.Kind != KindAbsent:
		fmt.Fprintf(&b, "removed %s (was %s, %d bytes)\n", path, old.Kind, old.Size)
	case old.Kind == KindAbsent:
		fmt.Fprintf(&b, "%s is absent; link %q -> %q\n", path, old.Link, new.Link)
	default:
		attributes(&b, old, new)
	}
	if old.SHA256 != new.SHA256 {
		content(&b, path, old, new, oldText, newText)
	}
	return cut(b.String())
}

// attributes writes one line per changed attribute of a path present on both sides.
func attributes(b *strings.Builder, old, new File) {
	if old.Kind != new.Kind {
		fmt.Fprintf(b, "kind %s -> %s\n", old.Kind, new.Kind)
	}
	if old.Mode != new.Mode {
		fmt.Fprintf(b, "mode %s -> %s\n", old.Mode, new.Mode)
	}
	if old.UID != new.UID || old.GID != new.GID {
		fmt.Fprintf(b, "owner %d:%d -> %d:%d\n", old.UID, old.GID, new.UID, new.GID)
	}
	if old.Link != new.Link {
		fmt.Fprintf(b, "link %q -> %q\n", old.Link, new.Link)
	}
}

// content writes the diff of the content, or the marker that stands for it.
func content(b *strings.Builder, path string, old, new File, oldText, newText []byte) {
	shown := func(f File) bool { return f.Kind == KindText || f.Kind == KindAbsent }
	if !shown(old) || !shown(new) {
		marker := MarkerBinary
		switch {
		case old.Kind == KindHashOnly || new.Kind == KindHashOnly:
			marker = MarkerHashOnly
		case old.Kind == KindLarge || new.Kind == KindLarge:
			marker = MarkerLarge
		}
		fmt.Fprintf(b, "%s sha256 %s -> %s, size %d -> %d\n", marker, short(old.SHA256), short(new.SHA256), old.Size, new.Size)
		return
	}
	if old.Kind == KindText && oldText == nil {
		// The whole new text follows as added lines.
		fmt.Fprintf(b, "content changed: sha256 %s -> %s (the previous text is not kept)\n", short(old.SHA256), short(new.SHA256))
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(oldText), B: lines(newText), FromFile: "a" + path, ToFile: "b" + path, Context: 3,
	})
	if err != nil {
		fmt.Fprintf(b, "content changed: sha256 %s -> %s (no diff: %v)\n", short(old.SHA256), short(new.SHA256), err)
		return
	}
	b.WriteString(d)
}

// lines splits text into lines that keep their newline; a last line without one gets a
// marker line, as diff(1) does.
func lines(text []byte) []string {
	if len(text) == 0 {
		return nil
	}
	out := strings.SplitAfter(string(text), "\n")
	if out[len(out)-1] == "" {
		return out[:len(out)-1]
	}
	out[len(out)-1] += "\n\\ No newline at end of file\n"
	return out
}

// short abbreviates a hash for a detail line.
func short(h string) string {
	if h == "" {
		return "-"
	}
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// cut bounds a detail to MaxDetailBytes on a rune boundary.
func cut(s string) string {
	if len(s) <= MaxDetailBytes {
		return s
	}
	const marker = "\n[diff cut: over the detail limit]\n"
	n := MaxDetailBytes - len(marker)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + marker
}
