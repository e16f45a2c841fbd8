package export

import (
	"strings"
	"unicode/utf8"
)

// xmlText replaces what XML 1.0 cannot carry (invalid UTF-8, control characters other
// than tab, newline and carriage return, surrogates, U+FFFE and U+FFFF) with U+FFFD.
func xmlText(s string) string {
	ok := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !xmlChar(r) {
			ok = false
			break
		}
		i += size
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !xmlChar(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// xmlChar reports whether r is a Char of XML 1.0 (section 2.2).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// xmlToken is s made safe for XML with its white space collapsed, as xs:token reads it.
func xmlToken(s string) string { return strings.Join(strings.Fields(xmlText(s)), " ") }
