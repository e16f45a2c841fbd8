package drift

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects a strict document may have.
const MaxDepth = 64

// StrictError says where a document breaks the strict rules, and how.
type StrictError struct {
	// Offset is the byte offset of the problem.
	Offset int
	// Path is the JSON pointer of the value being read ("" for the document).
	Path   string
	Reason string
}

func (e *StrictError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s (at byte %d)", e.Reason, e.Offset)
	}
	return fmt.Sprintf("%s at %s (byte %d)", e.Reason, e.Path, e.Offset)
}

// CheckStrict reports whether raw is one JSON value that obeys driftwatch's strict rules:
// valid syntax, valid UTF-8 (also in \u escapes: no lone surrogates), no object with the same
// key twice, every number finite as a float64, nesting at most MaxDepth. encoding/json
// accepts all of these and quietly changes what they mean (a duplicate key keeps its last
// value, invalid UTF-8 becomes U+FFFD, 1e999 cannot be decoded later), so every door checks
// first. The error is a *StrictError.
func CheckStrict(raw []byte) error {
	p := parser{in: raw}
	return p.document(false)
}

// CanonicalStrict checks raw like CheckStrict and returns its canonical form (see
// Canonical).
func CanonicalStrict(raw []byte) ([]byte, error) {
	p := parser{in: raw, out: make([]byte, 0, len(raw))}
	if err := p.document(true); err != nil {
		return nil, err
	}
	return p.out, nil
}

// Member is one member of a JSON object as ObjectMembers reads it: its key, decoded, and its
// value exactly as written.
type Member struct {
	Key   string
	Value []byte
}

// ObjectMembers checks raw like CheckStrict, requires it to be an object, and returns its
// top-level members in document order, each value a slice of raw: one pass, so that a
// decoder can take what it needs from small members and keep a large one (a state) as it is
// without reading it again.
func ObjectMembers(raw []byte) ([]Member, error) {
	p := parser{in: raw, collect: true}
	if err := p.document(false); err != nil {
		return nil, err
	}
	if p.members == nil {
		return nil, errNotObject
	}
	return p.members, nil
}

// UnquoteString decodes a JSON string value as ObjectMembers returns it.
func UnquoteString(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", errors.New("not a string")
	}
	p := parser{in: v}
	raw, decoded, err := p.str()
	if err != nil {
		return "", err
	}
	if p.pos != len(v) {
		return "", errors.New("not one string")
	}
	if decoded != nil {
		return string(decoded), nil
	}
	return string(raw), nil
}

// parser is a single-pass strict JSON reader that can write the canonical form as it goes:
// object members sorted by key (byte order of the decoded keys, as encoding/json sorts map
// keys), no insignificant white space, strings escaped as encoding/json escapes them,
// numbers exactly as written. It allocates little: keys without escapes alias the input,
// members are reordered only when they are not in order already (json.Marshal's output is).
type parser struct {
	in    []byte
	pos   int
	out   []byte
	emit  bool
	depth int
	path  []pathElem
	spans []memberSpan // stack of the members of the objects being read
	tmp   []byte
	// collect records the top-level object's members in members.
	collect bool
	members []Member
}

// pathElem is one step of the path to the value being read, for error messages.
type pathElem struct {
	key   []byte
	index int
}

// memberSpan is one object member: its decoded key and where its canonical value sits in out.
type memberSpan struct {
	key        []byte
	at         int // offset of the key in the input, for errors
	start, end int
}

func (p *parser) fail(reason string) error {
	return &StrictError{Offset: p.pos, Path: p.pointer(), Reason: reason}
}

func (p *parser) pointer() string {
	if len(p.path) == 0 {
		return ""
	}
	r := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, e := range p.path {
		b.WriteByte('/')
		if e.key != nil {
			b.WriteString(r.Replace(string(e.key)))
		} else {
			b.WriteString(strconv.Itoa(e.index))
		}
	}
	return b.String()
}

func (p *parser) document(emit bool) error {
	p.emit = emit
	p.space()
	if p.pos == len(p.in) {
		return p.fail("empty document")
	}
	if err := p.value(); err != nil {
		return err
	}
	p.space()
	if p.pos != len(p.in) {
		return p.fail("trailing data after the document")
	}
	return nil
}

func (p *parser) space() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() error {
	if p.pos >= len(p.in) {
		return p.fail("unexpected end of the document")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		raw, decoded, err := p.str()
		if err != nil {
			return err
		}
		if p.emit {
			p.out = appendStringValue(p.out, raw, decoded)
		}
		return nil
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return p.fail(fmt.Sprintf("unexpected character %q", rune(c)))
	}
}

func (p *parser) literal(word string) error {
	if len(p.in)-p.pos < len(word) || string(p.in[p.pos:p.pos+len(word)]) != word {
		return p.fail("invalid literal")
	}
	p.pos += len(word)
	if p.emit {
		p.out = append(p.out, word...)
	}
	return nil
}

func (p *parser) number() error {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intDigits := 0
	if p.pos < len(p.in) && p.in[p.pos] == '0' {
		p.pos++
		intDigits = 1
	} else if intDigits = digits(); intDigits == 0 {
		return p.fail("invalid number")
	}
	plain := true
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		plain = false
		if digits() == 0 {
			return p.fail("invalid number: no digits after the decimal point")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		plain = false
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.fail("invalid number: no digits in the exponent")
		}
	}
	lit := p.in[start:p.pos]
	// Integers of up to 300 digits are always finite; anything else is parsed to know.
	if !plain || intDigits > 300 {
		if f, err := strconv.ParseFloat(string(lit), 64); err != nil || math.IsInf(f, 0) {
			p.pos = start
			return p.fail(fmt.Sprintf("number %s is outside the range of a 64-bit float", lit))
		}
	}
	if p.emit {
		p.out = append(p.out, lit...)
	}
	return nil
}

// str reads a string. raw is its bytes between the quotes when it has no escapes (then
// decoded is nil); otherwise decoded holds it decoded.
func (p *parser) str() (raw, decoded []byte, err error) {
	p.pos++ // opening quote
	start := p.pos
	ascii := true
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '"' {
			s := p.in[start:p.pos]
			if !ascii && !utf8.Valid(s) {
				return nil, nil, p.fail("invalid UTF-8 in a string")
			}
			p.pos++
			return s, nil, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, nil, p.fail("control character in a string")
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		p.pos++
	}
	b := append([]byte(nil), p.in[start:p.pos]...)
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !utf8.Valid(b) {
				return nil, nil, p.fail("invalid UTF-8 in a string")
			}
			return nil, b, nil
		case c < 0x20:
			return nil, nil, p.fail("control character in a string")
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return nil, nil, p.fail("unfinished escape")
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return nil, nil, err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || p.pos+1 >= len(p.in) || p.in[p.pos] != '\\' || p.in[p.pos+1] != 'u' {
						return nil, nil, p.fail("lone UTF-16 surrogate in a \\u escape")
					}
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return nil, nil, err
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return nil, nil, p.fail("invalid UTF-16 surrogate pair in a \\u escape")
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return nil, nil, p.fail(fmt.Sprintf("invalid escape \\%c", e))
			}
		default:
			b = append(b, c)
			p.pos++
		}
	}
	return nil, nil, p.fail("unterminated string")
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.in) {
		return 0, p.fail("unfinished \\u escape")
	}
	var v rune
	for _, c := range p.in[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, p.fail("invalid \\u escape")
		}
	}
	p.pos += 4
	return v, nil
}

func (p *parser) enter() error {
	if p.depth++; p.depth > MaxDepth {
		return p.fail(fmt.Sprintf("nested deeper than %d", MaxDepth))
	}
	return nil
}

func (p *parser) array() error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++
	if p.emit {
		p.out = append(p.out, '[')
	}
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.depth--
		if p.emit {
			p.out = append(p.out, ']')
		}
		return nil
	}
	p.path = append(p.path, pathElem{})
	for i := 0; ; i++ {
		if i > 0 && p.emit {
			p.out = append(p.out, ',')
		}
		p.path[len(p.path)-1] = pathElem{index: i}
		p.space()
		if err := p.value(); err != nil {
			return err
		}
		p.space()
		if p.pos >= len(p.in) {
			return p.fail("unterminated array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			p.path = p.path[:len(p.path)-1]
			if p.emit {
				p.out = append(p.out, ']')
			}
			return nil
		default:
			return p.fail("expected , or ] in an array")
		}
	}
}

func (p *parser) object() error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		if p.collect && p.depth == 1 {
			p.members = []Member{}
		}
		p.pos++
		p.depth--
		if p.emit {
			p.out = append(p.out, '{', '}')
		}
		return nil
	}
	if p.collect && p.depth == 1 {
		p.members = []Member{}
	}
	base := len(p.spans)
	if p.emit {
		p.out = append(p.out, '{')
	}
	p.path = append(p.path, pathElem{})
	for n := 0; ; n++ {
		p.space()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.fail("expected a string key in an object")
		}
		at := p.pos
		raw, decoded, err := p.str()
		if err != nil {
			return err
		}
		key := raw
		if decoded != nil {
			key = decoded
		}
		p.space()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.fail("expected : after an object key")
		}
		p.pos++
		p.space()
		p.path[len(p.path)-1] = pathElem{key: key}
		if p.emit && n > 0 {
			p.out = append(p.out, ',')
		}
		start := len(p.out)
		if p.emit {
			p.out = appendStringValue(p.out, key, nil)
			p.out = append(p.out, ':')
		}
		valueAt := p.pos
		if err := p.value(); err != nil {
			return err
		}
		if p.collect && p.depth == 1 {
			p.members = append(p.members, Member{Key: string(key), Value: p.in[valueAt:p.pos]})
		}
		p.spans = append(p.spans, memberSpan{key: key, at: at, start: start, end: len(p.out)})
		p.space()
		if p.pos >= len(p.in) {
			return p.fail("unterminated object")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			p.path = p.path[:len(p.path)-1]
			err := p.closeObject(base)
			p.spans = p.spans[:base]
			return err
		default:
			return p.fail("expected , or } in an object")
		}
	}
}

// closeObject checks an object's members for duplicate keys and, when emitting, finishes the
// canonical object: members were written in input order, each as key:value, and are
// reordered only when the input did not have them sorted.
func (p *parser) closeObject(base int) error {
	members := p.spans[base:]
	sorted := true
	for i := 1; i < len(members); i++ {
		if bytes.Compare(members[i-1].key, members[i].key) >= 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		members = slices.Clone(members)
		slices.SortStableFunc(members, func(a, b memberSpan) int { return bytes.Compare(a.key, b.key) })
		for i := 1; i < len(members); i++ {
			if bytes.Equal(members[i-1].key, members[i].key) {
				p.pos = max(members[i-1].at, members[i].at)
				p.path = append(p.path, pathElem{key: members[i].key})
				return p.fail(fmt.Sprintf("duplicate key %q", members[i].key))
			}
		}
	}
	if !p.emit {
		return nil
	}
	if !sorted {
		first := p.spans[base].start
		p.tmp = append(p.tmp[:0], p.out[first:]...)
		p.out = p.out[:first]
		for i, m := range members {
			if i > 0 {
				p.out = append(p.out, ',')
			}
			p.out = append(p.out, p.tmp[m.start-first:m.end-first]...)
		}
	}
	p.out = append(p.out, '}')
	return nil
}

// appendStringValue writes a string read by str: raw bytes (valid UTF-8, no escapes) or its
// decoded form, escaped canonically.
func appendStringValue(b, raw, decoded []byte) []byte {
	s := raw
	if decoded != nil {
		s = decoded
	}
	if safe(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return appendCanonicalString(b, string(s))
}

// safe reports whether s needs no escaping at all in canonical form.
func safe(s []byte) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
		// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
		if c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) {
			return false
		}
	}
	return true
}

const hexLower = "0123456789abcdef"

// appendCanonicalString escapes s as encoding/json.Marshal does: quotes, backslashes,
// control characters, <, >, & and U+2028/U+2029 escaped, the rest as UTF-8 (s is valid).
func appendCanonicalString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexLower[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// errNotObject is returned by CanonicalObject for a document that is not an object.
var errNotObject = errors.New("must be a JSON object")

// CanonicalObject is CanonicalStrict for a document that must be an object.
func CanonicalObject(raw []byte) ([]byte, error) {
	out, err := CanonicalStrict(raw)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 || out[0] != '{' {
		return nil, errNotObject
	}
	return out, nil
}
