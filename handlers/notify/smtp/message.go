package smtp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
)

// maxSubjectRunes bounds the Subject's text before encoding, so that the folded header stays
// readable; RFC 5322 §2.1.1 only asks lines of at most 998 characters, and folding keeps
// each at 78.
const maxSubjectRunes = 200

// foldWidth is RFC 5322 §2.1.1's recommended line length.
const foldWidth = 78

// MessageID returns the Message-ID of the message about a notification with the given key:
// "<" + the first 128 bits of the key's SHA-256 in hex + "@driftwatch>", short enough for a
// 78-character header line. Every resend of one notification has it.
func MessageID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(sum[:16]) + "@driftwatch>"
}

// Subject returns the Subject text of the message about n, before encoding:
// "[driftwatch] <severity> <event>: <ci> <field>", control characters replaced by spaces,
// cut to 200 characters.
func Subject(n notify.Notification) string {
	s := fmt.Sprintf("[driftwatch] %s %s: %s %s", n.Severity, n.Event, n.CIID, n.Field)
	return cutRunes(strings.TrimSpace(sanitize(s)), maxSubjectRunes)
}

func (s *Sender) compose(n notify.Notification) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.String()
	}
	at := n.At
	if at.IsZero() {
		at = time.Now()
	}
	header("From", s.from.String())
	header("To", fold(len("To: "), strings.Join(to, ", ")))
	header("Subject", fold(len("Subject: "), mime.QEncoding.Encode("utf-8", Subject(n))))
	header("Date", at.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	header("Message-ID", MessageID(n.Key))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: an automatic message; vacation responders stay quiet.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(Body(n, s.cfg.MaxBodyBytes)))
	_ = qp.Close()
	return b.Bytes()
}

// Body returns the decoded text body of the message about n, at most max bytes: the summary,
// the drift's facts one per line, and the detail, which is cut first (on a UTF-8 boundary,
// with a note saying so) when the body would be longer.
func Body(n notify.Notification, max int) string {
	var h strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&h, "%-10s%s\n", label+":", sanitize(value))
		}
	}
	if n.Summary != "" {
		h.WriteString(sanitize(n.Summary))
		h.WriteString("\n\n")
	}
	line("Event", string(n.Event))
	ci := n.CIID
	if n.CIType != "" {
		ci += " (" + n.CIType + ")"
	}
	line("CI", ci)
	field := n.Field
	if field == "" {
		field = "(whole CI)"
	}
	line("Field", field)
	line("Severity", string(n.Severity))
	line("Category", string(n.Category))
	line("Planned", map[bool]string{true: "yes", false: "no"}[n.Planned])
	line("Desired", compactJSON(n.Desired))
	line("Actual", compactJSON(n.Actual))
	line("Policy", n.PolicyID)
	line("Ticket", n.Ticket)
	line("By", n.By)
	line("Link", n.URL)
	head := strings.ToValidUTF8(h.String(), "\uFFFD")
	detail := strings.ToValidUTF8(normalizeNewlines(n.Detail), "\uFFFD")
	if detail == "" {
		return cutBody(head, max)
	}
	const label = "\nDetail:\n"
	if !strings.HasSuffix(detail, "\n") {
		detail += "\n"
	}
	if len(head)+len(label)+len(detail) <= max {
		return head + label + detail
	}
	const noteFormat = "\n[detail cut: %d of %d bytes shown]\n"
	// The note's longest form: the bytes shown are never more than the detail's.
	budget := max - len(head) - len(label) - len(fmt.Sprintf(noteFormat, len(detail), len(detail)))
	if budget <= 0 {
		return cutBody(head, max)
	}
	shown := cutBytes(detail, budget)
	return head + label + shown + fmt.Sprintf(noteFormat, len(shown), len(detail))
}

// cutBody cuts a body that is too long even without its detail.
func cutBody(body string, max int) string {
	if len(body) <= max {
		return body
	}
	const note = "\n[cut]\n"
	return cutBytes(body, max-len(note)) + note
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// sanitize makes s one line: every control character (CR and LF among them) becomes a
// space, so that text from a notification never starts a header or a line of its own.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// fold breaks a header value at its spaces so that lines stay within foldWidth where the
// words allow; unfolding (RFC 5322 §2.2.3) gives the value back.
func fold(used int, value string) string {
	words := strings.Split(value, " ")
	var b strings.Builder
	width := used
	for i, w := range words {
		if i > 0 {
			if width+1+len(w) > foldWidth {
				b.WriteString("\r\n")
				width = 0
			}
			b.WriteByte(' ')
			width++
		}
		b.WriteString(w)
		width += len(w)
	}
	return b.String()
}

// cutBytes returns the longest prefix of s of at most n bytes that ends on a rune boundary.
func cutBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cutRunes returns s cut to at most n runes, the last one an ellipsis when it was cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
