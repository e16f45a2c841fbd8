package servicenowfake

import (
	"fmt"
	"slices"
	"strings"
)

// condition is one term of an encoded query.
type condition struct {
	field, op, value string
}

// query is an encoded query: every group must match, and a group matches when one of its
// conditions does.
type query [][]condition

// operators, longest first so that NOT LIKE is not read as a field "...NOT" and LIKE.
var operators = []string{"ISNOTEMPTY", "ISEMPTY", "STARTSWITH", "ENDSWITH", "NOT LIKE", "LIKE", "NOT IN", "IN", "!=", "="}

// parseQuery reads an encoded query for table. Conditions on fields the table does not have,
// or with an operator the fake does not know, are dropped, as a stock instance drops them.
func parseQuery(s schema, q string) (query, error) {
	if q == "" {
		return nil, nil
	}
	if strings.Contains(q, "^NQ") {
		return nil, fmt.Errorf("servicenowfake: ^NQ queries are not implemented")
	}
	var out query
	for _, term := range strings.Split(q, "^") {
		or := false
		switch {
		case term == "", strings.HasPrefix(term, "ORDERBY"):
			continue
		case strings.HasPrefix(term, "OR"):
			or, term = true, term[2:]
		}
		c, ok := parseCondition(term)
		if !ok {
			continue
		}
		if !s.readable(c.field) {
			continue
		}
		if or && len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], c)
		} else {
			out = append(out, []condition{c})
		}
	}
	return out, nil
}

// parseCondition splits field, operator and value: the field is the longest run of
// lowercase letters, digits, _ and . at the start.
func parseCondition(term string) (condition, bool) {
	i := 0
	for i < len(term) && (term[i] >= 'a' && term[i] <= 'z' || term[i] >= '0' && term[i] <= '9' || term[i] == '_' || term[i] == '.') {
		i++
	}
	field, rest := term[:i], term[i:]
	for _, op := range operators {
		if strings.HasPrefix(rest, op) {
			return condition{field: field, op: op, value: rest[len(op):]}, field != ""
		}
	}
	return condition{}, false
}

// matches reports whether record r meets the query.
func (q query) matches(r map[string]string) bool {
	for _, group := range q {
		ok := false
		for _, c := range group {
			if c.matches(value(r, c.field)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c condition) matches(v string) bool {
	v, want := strings.ToLower(v), strings.ToLower(c.value)
	switch c.op {
	case "=":
		return v == want
	case "!=":
		return v != want
	case "LIKE":
		return strings.Contains(v, want)
	case "NOT LIKE":
		return !strings.Contains(v, want)
	case "STARTSWITH":
		return strings.HasPrefix(v, want)
	case "ENDSWITH":
		return strings.HasSuffix(v, want)
	case "IN":
		return slices.Contains(strings.Split(want, ","), v)
	case "NOT IN":
		return !slices.Contains(strings.Split(want, ","), v)
	case "ISEMPTY":
		return v == ""
	case "ISNOTEMPTY":
		return v != ""
	}
	return false
}
