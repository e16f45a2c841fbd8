// Package redact keeps secrets out of what the agent reports. Paths configured as hash-only
// (always /etc/shadow) are never read for diffs. In every other text, secret values (private
// key blocks, password/secret/token assignments, credentials in URLs and configured patterns)
// are replaced by keyed fingerprints: an HMAC-SHA256 under a key that never leaves the node,
// so that the same secret always gets the same mask and a changed secret a different one,
// while nobody without the key can test guesses against a mask.
package redact

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
)

// ShadowPath is hash-only whatever the configuration says.
const ShadowPath = "/etc/shadow"

// MaskPrefix starts every mask: "[REDACTED:hmac:0123456789ab]". A mask has no spaces, so
// that patterns matching a word take a mask whole.
const MaskPrefix = "[REDACTED:hmac:"

// minKeyBytes is the shortest fingerprint key accepted.
const minKeyBytes = 16

// Redactor masks secrets. It is safe for concurrent use.
type Redactor struct {
	key      []byte
	hashOnly []string
	patterns []*regexp.Regexp
}

// New returns a redactor with the fingerprint key (at least 16 bytes), the hash-only path
// patterns (path.Match globs; ShadowPath is added) and extra secret patterns (regular
// expressions: the first capture group is masked, or the whole match when there is none).
// It reports every bad pattern at once.
func New(key []byte, hashOnly, patterns []string) (*Redactor, error) {
	var errs []error
	if len(key) < minKeyBytes {
		errs = append(errs, fmt.Errorf("fingerprint key: %d bytes, want at least %d", len(key), minKeyBytes))
	}
	r := &Redactor{key: slices.Clone(key), hashOnly: []string{ShadowPath}}
	for i, g := range hashOnly {
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("hash_only[%d]: %q: %w", i, g, err))
			continue
		}
		r.hashOnly = append(r.hashOnly, g)
	}
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("patterns[%d]: %w", i, err))
			continue
		}
		r.patterns = append(r.patterns, re)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("redaction: %w", err)
	}
	return r, nil
}

// HashOnly reports whether the content of the file at p must never be shown.
func (r *Redactor) HashOnly(p string) bool {
	for _, g := range r.hashOnly {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}

// Fingerprint returns the mask of one secret value.
func (r *Redactor) Fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, r.key)
	m.Write(secret)
	return MaskPrefix + hex.EncodeToString(m.Sum(nil))[:12] + "]"
}

var (
	// privateKeyBlock matches a PEM or OpenSSH private key block, or its unterminated start.
	privateKeyBlock = regexp.MustCompile(`(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)(.*?)(-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)`)
	// assignment matches a line, commented out or not, that assigns a secret-looking key with
	// = or : (not a bare word: "PasswordAuthentication yes" is configuration, not a secret).
	assignment = regexp.MustCompile(`(?im)^([ \t]*(?:(?:#|;|//)+[ \t]*)?(?:export[ \t]+)?["']?[\w.\-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[\w.\-]*["']?[ \t]*[:=][ \t]*)(\S(?:[^\r\n]*\S)?)([ \t]*)$`)
	// member matches a secret-looking key with = or : anywhere in a line (a JSON or YAML flow
	// member, a query parameter, a --flag=value) and its value: a quoted string or one token.
	member = regexp.MustCompile(`(?i)(["']?[\w.\-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[\w.\-]*["']?[ \t]*[:=][ \t]*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;&}"']+)`)
	// sudoersTag is a sudoers tag ("NOPASSWD: ALL"), which looks like a secret's key and is
	// configuration a reviewer must see.
	sudoersTag = regexp.MustCompile(`^(?:NO)?PASSWD[ \t]*:`)
	// urlCredentials matches the password of user:password@ in a URL.
	urlCredentials = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]+:)([^@\s]+)(@)`)
)

// Mask returns text with every secret value replaced by its fingerprint. Masks already in the
// text are left alone, so masking is idempotent.
func (r *Redactor) Mask(text []byte) []byte {
	out := privateKeyBlock.ReplaceAllFunc(text, func(m []byte) []byte {
		g := privateKeyBlock.FindSubmatch(m)
		if isMask(bytes.TrimSpace(g[2])) {
			return m
		}
		end := g[3]
		if len(end) == 0 {
			end = []byte("-----END UNTERMINATED PRIVATE KEY-----")
		}
		return slices.Concat(g[1], []byte("\n"), []byte(r.Fingerprint(g[2])), []byte("\n"), end)
	})
	out = r.maskGroup(assignment, out, 2)
	out = r.maskGroup(member, out, 2)
	out = r.maskGroup(urlCredentials, out, 2)
	for _, re := range r.patterns {
		group := 0
		if re.NumSubexp() > 0 {
			group = 1
			if i := re.SubexpIndex("secret"); i > 0 {
				group = i
			}
		}
		out = r.maskGroup(re, out, group)
	}
	return out
}

// maskGroup replaces capture group g (0: the whole match) of every match of re by its
// fingerprint, leaving masks already in the text alone and keeping trailing commas of JSON
// members.
func (r *Redactor) maskGroup(re *regexp.Regexp, text []byte, g int) []byte {
	idx := re.FindAllSubmatchIndex(text, -1)
	if len(idx) == 0 {
		return text
	}
	masks := maskSpans(text)
	out := make([]byte, 0, len(text))
	last := 0
	for _, m := range idx {
		start, end := m[2*g], m[2*g+1]
		if start < 0 || start == end {
			continue
		}
		value := text[start:end]
		// A JSON member's trailing comma is syntax, not part of the secret.
		if n := len(value); n > 1 && value[n-1] == ',' {
			end--
			value = value[:n-1]
		}
		if isMask(value) || overlaps(masks, start, end) || (g == 2 && sudoersTag.Match(text[m[2]:m[3]])) {
			continue
		}
		out = append(out, text[last:start]...)
		out = append(out, r.Fingerprint(value)...)
		last = end
	}
	return append(out, text[last:]...)
}

// maskSpans returns the [start, end) of every mask in text.
func maskSpans(text []byte) [][2]int {
	var out [][2]int
	prefix := []byte(MaskPrefix)
	for off := 0; ; {
		i := bytes.Index(text[off:], prefix)
		if i < 0 {
			return out
		}
		start := off + i
		end := start + maskLen
		if end > len(text) {
			return out
		}
		out = append(out, [2]int{start, end})
		off = end
	}
}

// overlaps reports whether [start, end) overlaps one of spans.
func overlaps(spans [][2]int, start, end int) bool {
	for _, s := range spans {
		if start < s[1] && s[0] < end {
			return true
		}
	}
	return false
}

// maskLen is the length of one mask: the prefix, 12 hex digits and "]".
const maskLen = len(MaskPrefix) + 13

// isMask reports whether v is exactly one mask, possibly quoted.
func isMask(v []byte) bool {
	s := string(v)
	if n := len(s); n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n-1] == s[0] {
		s = s[1 : n-1]
	}
	return len(s) == maskLen && s[:len(MaskPrefix)] == MaskPrefix && s[len(s)-1] == ']'
}
