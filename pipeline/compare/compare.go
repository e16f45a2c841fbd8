// Package compare is driftwatch's comparison of desired with actual state: RFC 6902 patches
// (jsondiff) grouped by monitored field. The diff stage makes it on every observation; a
// what-if simulation makes it again under a draft policy.
package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wI2L/jsondiff"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Patch returns the RFC 6902 patch that turns document from into document to.
func Patch(from, to []byte) (json.RawMessage, error) {
	p, err := jsondiff.CompareJSON(from, to)
	if err != nil {
		return nil, fmt.Errorf("diff documents: %w", err)
	}
	return json.Marshal(p)
}

// Checked returns the pointers an observation is compared on: the policy's monitored fields
// (every field when it names none) narrowed to the observation's scope, if it has one.
func Checked(p drift.Policy, scope []string) []string {
	monitored := []string{""}
	if len(p.MonitoredFields) > 0 {
		monitored = make([]string, len(p.MonitoredFields))
		for i, f := range p.MonitoredFields {
			monitored[i] = drift.FieldPointer(f)
		}
	}
	if len(scope) == 0 {
		return monitored
	}
	var out []string
	for _, m := range monitored {
		for _, s := range scope {
			switch {
			case drift.UnderPointer(s, m):
				out = append(out, s)
			case drift.UnderPointer(m, s):
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Compare returns one FieldDrift per checked field whose actual value differs from the
// desired one, sorted by field (see drift.FieldOf for what makes a field).
// Changes under the policy's ignore pointers are not drift; a "*" token of an ignore pointer
// matches any one key or index ("/interfaces/*/mtu").
func Compare(desired, actual json.RawMessage, checked, ignore []string) ([]drift.FieldDrift, error) {
	patch, err := jsondiff.CompareJSON(desired, actual)
	if err != nil {
		return nil, fmt.Errorf("diff desired and actual state: %w", err)
	}
	groups := map[string]jsondiff.Patch{}
	for _, op := range patch {
		if slices.ContainsFunc(ignore, func(ig string) bool { return drift.UnderPointer(op.Path, ig) }) {
			continue
		}
		if f, ok := drift.FieldOf(op.Path, checked); ok {
			groups[f] = append(groups[f], op)
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	var d, a any
	if err := decode(desired, &d); err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	if err := decode(actual, &a); err != nil {
		return nil, fmt.Errorf("actual state: %w", err)
	}
	out := make([]drift.FieldDrift, 0, len(groups))
	for field, ops := range groups {
		fd := drift.FieldDrift{Field: field}
		fd.Desired, fd.DesiredMissing = lookup(d, field)
		fd.Actual, fd.ActualMissing = lookup(a, field)
		if fd.Patch, err = json.Marshal(ops); err != nil {
			return nil, fmt.Errorf("encode patch of %s: %w", field, err)
		}
		out = append(out, fd)
	}
	slices.SortFunc(out, func(x, y drift.FieldDrift) int { return strings.Compare(x.Field, y.Field) })
	return out, nil
}

func decode(doc json.RawMessage, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return dec.Decode(v)
}

// lookup returns the JSON value at an RFC 6901 pointer, or null and true when it is absent.
func lookup(doc any, ptr string) (json.RawMessage, bool) {
	cur := doc
	if ptr != "" {
		for _, tok := range strings.Split(ptr[1:], "/") {
			tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
			switch v := cur.(type) {
			case map[string]any:
				next, ok := v[tok]
				if !ok {
					return json.RawMessage("null"), true
				}
				cur = next
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(v) {
					return json.RawMessage("null"), true
				}
				cur = v[i]
			default:
				return json.RawMessage("null"), true
			}
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return json.RawMessage("null"), true
	}
	return b, false
}
