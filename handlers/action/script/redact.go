package script

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// secretPattern finds "password: x", "token=x", `"api_key": "x"` and the like within a line;
// the first group keeps the name and separator, the value after it is masked.
var secretPattern = regexp.MustCompile(`(?i)((?:password|passwd|secret|token|api_key)["']?[\t ]*[:=][\t ]*)[^\s]+`)

// Redacted replaces a masked value.
const Redacted = "[REDACTED]"

// Redact masks obvious secrets in s: on every line, the value after password, passwd,
// secret, token or api_key followed by ":" or "=" becomes [REDACTED]. It is the masking the
// remediation executors (this one and the ansible one) apply to everything they report; it
// catches careless output, not a determined leak.
func Redact(s string) string {
	return secretPattern.ReplaceAllString(s, "${1}"+Redacted)
}

// markerRoom is what a Bounded keeps free for the note that says how much it left out.
const markerRoom = 80

// MinBounded is the smallest bound a Bounded takes.
const MinBounded = 4 * markerRoom

// Bounded is an io.Writer that keeps at most a fixed number of bytes of what is written to
// it: the first quarter and the last part, with a note of how much was left out between
// them (the end of an output, the error or the recap, is usually what matters). It is safe
// for concurrent use.
type Bounded struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte // a ring once full: the oldest byte is at start
	start   int
	headCap int
	tailCap int
	total   int64
}

// NewBounded returns a Bounded that keeps at most limit bytes, the note included; a limit
// below MinBounded is raised to it.
func NewBounded(limit int) *Bounded {
	limit = max(limit, MinBounded)
	h := limit / 4
	return &Bounded{headCap: h, tailCap: limit - h - markerRoom}
}

// Write implements io.Writer; it never fails.
func (b *Bounded) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
	if room := b.headCap - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head, p = append(b.head, p[:k]...), p[k:]
	}
	if len(p) >= b.tailCap {
		b.tail, b.start = append(b.tail[:0], p[len(p)-b.tailCap:]...), 0
		return n, nil
	}
	if room := b.tailCap - len(b.tail); room > 0 {
		k := min(room, len(p))
		b.tail, p = append(b.tail, p[:k]...), p[k:]
	}
	for len(p) > 0 {
		k := copy(b.tail[b.start:], p)
		p, b.start = p[k:], (b.start+k)%b.tailCap
	}
	return n, nil
}

// Len is how many bytes were written, kept or not.
func (b *Bounded) Len() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// String returns what was kept, as valid UTF-8: everything written when it fitted, else
// the head, the note and the tail, cut on character boundaries.
func (b *Bounded) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	tail := make([]byte, 0, len(b.tail))
	tail = append(append(tail, b.tail[b.start:]...), b.tail[:b.start]...)
	kept := int64(len(b.head) + len(tail))
	if kept == b.total {
		return strings.ToValidUTF8(string(b.head)+string(tail), "\uFFFD")
	}
	head := b.head
	if i := lastRuneStart(head); i >= 0 && !utf8.FullRune(head[i:]) {
		head = head[:i]
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	note := "\n[... " + strconv.FormatInt(b.total-int64(len(head)+len(tail)), 10) + " bytes of output left out ...]\n"
	return strings.ToValidUTF8(string(head)+note+string(tail), "\uFFFD")
}

// lastRuneStart is the index of the last byte of p that starts a character, or -1.
func lastRuneStart(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			return i
		}
	}
	return -1
}
