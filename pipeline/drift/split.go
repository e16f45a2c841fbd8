package drift

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

// SplitObject reads the top level of a JSON object quickly: its members, keys decoded and
// checked (valid UTF-8, no key twice), values exactly as written, found by their brackets
// and quotes but not checked inside. It is for documents whose large members are checked
// elsewhere, once (a state is canonicalised strictly by ingest, or recognised byte for byte
// as one that was); check the small ones before use (UnquoteString, CheckStrict). Keys and
// values alias raw.
func SplitObject(raw []byte) ([]Member, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, &StrictError{Offset: i, Reason: "not a JSON object"}
	}
	i = skipSpace(raw, i+1)
	members := make([]Member, 0, 16)
	if i < len(raw) && raw[i] == '}' {
		return members, trailing(raw, i+1)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return nil, &StrictError{Offset: i, Reason: "expected a string key in an object"}
		}
		p := parser{in: raw, pos: i}
		kraw, kdec, err := p.str()
		if err != nil {
			return nil, err
		}
		key := kraw
		if kdec != nil {
			key = kdec
		}
		i = skipSpace(raw, p.pos)
		if i >= len(raw) || raw[i] != ':' {
			return nil, &StrictError{Offset: i, Reason: "expected : after an object key"}
		}
		i = skipSpace(raw, i+1)
		end, err := skipValue(raw, i)
		if err != nil {
			return nil, err
		}
		members = append(members, Member{Key: unsafe.String(unsafe.SliceData(key), len(key)), Value: raw[i:end]})
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return nil, &StrictError{Offset: i, Reason: "unterminated object"}
		}
		if raw[i] == '}' {
			if err := trailing(raw, i+1); err != nil {
				return nil, err
			}
			return members, noDuplicates(members)
		}
		if raw[i] != ',' {
			return nil, &StrictError{Offset: i, Reason: "expected , or } in an object"}
		}
		i = skipSpace(raw, i+1)
	}
}

func noDuplicates(ms []Member) error {
	if len(ms) < 2 {
		return nil
	}
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = m.Key
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			return &StrictError{Path: pointerOfKey(keys[i]), Reason: fmt.Sprintf("duplicate key %q", keys[i])}
		}
	}
	return nil
}

func pointerOfKey(k string) string {
	p := parser{path: []pathElem{{key: []byte(k)}}}
	return p.pointer()
}

func trailing(raw []byte, i int) error {
	if i = skipSpace(raw, i); i != len(raw) {
		return &StrictError{Offset: i, Reason: "trailing data after the document"}
	}
	return nil
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

var errUnterminated = errors.New("unterminated value")

// skipValue returns the end of the value at i: strings and brackets are followed, nothing
// inside is checked.
func skipValue(raw []byte, i int) (int, error) {
	if i >= len(raw) {
		return i, &StrictError{Offset: i, Reason: "unexpected end of the document"}
	}
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end, err := skipString(raw, j)
				if err != nil {
					return j, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return len(raw), &StrictError{Offset: i, Reason: errUnterminated.Error()}
	default:
		j := i
		for j < len(raw) && raw[j] != ',' && raw[j] != '}' && raw[j] != ']' && raw[j] != ' ' && raw[j] != '\t' && raw[j] != '\n' && raw[j] != '\r' {
			j++
		}
		if j == i {
			return i, &StrictError{Offset: i, Reason: fmt.Sprintf("unexpected character %q", rune(raw[i]))}
		}
		return j, nil
	}
}

func skipString(raw []byte, i int) (int, error) {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return len(raw), &StrictError{Offset: i, Reason: "unterminated string"}
}
