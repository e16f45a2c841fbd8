package api

import (
	"fmt"
	"strconv"
	"strings"
)

// pointer is a parsed RFC 6901 JSON pointer: its reference tokens, unescaped. The empty
// pointer is the whole document.
type pointer []string

// parsePointer parses an RFC 6901 JSON pointer.
func parsePointer(s string) (pointer, error) {
	if s == "" {
		return pointer{}, nil
	}
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer: it must start with /", s)
	}
	tokens := strings.Split(s[1:], "/")
	for i, t := range tokens {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 >= len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("%q is not a JSON pointer: ~ must be followed by 0 or 1", s)
			}
		}
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// index reads an array index: decimal digits without leading zeros, below limit.
func index(token string, limit int) (int, error) {
	if token == "" || (len(token) > 1 && token[0] == '0') || strings.TrimLeft(token, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an array index", token)
	}
	i, err := strconv.Atoi(token)
	if err != nil || i >= limit {
		return 0, fmt.Errorf("array index %s is out of range", token)
	}
	return i, nil
}

// get returns the value at p.
func get(doc any, p pointer) (any, error) {
	for _, t := range p {
		switch c := doc.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("member %q does not exist", t)
			}
			doc = v
		case []any:
			i, err := index(t, len(c))
			if err != nil {
				return nil, err
			}
			doc = c[i]
		default:
			return nil, fmt.Errorf("cannot look up %q in a value that is neither an object nor an array", t)
		}
	}
	return doc, nil
}

// modify calls fn on the container that holds the last token of p, and stores the container
// fn returns in place of the old one (an array may grow or shrink).
func modify(doc any, p pointer, fn func(container any, key string) (any, error)) (any, error) {
	if len(p) == 1 {
		return fn(doc, p[0])
	}
	child, err := get(doc, p[:1])
	if err != nil {
		return nil, err
	}
	if child, err = modify(child, p[1:], fn); err != nil {
		return nil, err
	}
	switch c := doc.(type) {
	case map[string]any:
		c[p[0]] = child
	case []any:
		i, _ := index(p[0], len(c))
		c[i] = child
	}
	return doc, nil
}
