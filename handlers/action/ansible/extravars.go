package ansible

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// varName is what a top-level extra variable's name looks like.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved are variable names a request may not set: the executor's own and Ansible's
// magic variables that do not start with ansible_.
var reserved = map[string]bool{
	"driftwatch": true, "groups": true, "group_names": true, "hostvars": true,
	"inventory_hostname": true, "inventory_hostname_short": true, "inventory_dir": true,
	"inventory_file": true, "omit": true, "play_hosts": true, "playbook_dir": true,
	"role_name": true, "role_names": true, "role_path": true, "role_uuid": true, "vars": true,
}

// maxVars bounds a request's Vars.
const maxVars = 1 << 20

// extraVars builds the run's extra variables from the request: its Vars and the driftwatch
// variable. Every refusal is permanent.
func extraVars(r action.Request) (map[string]any, error) {
	vars := map[string]any{}
	if raw := bytes.TrimSpace(r.Vars); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if len(raw) > maxVars {
			return nil, fault.Permanent(fmt.Errorf("vars: %d bytes is over the %d allowed", len(raw), maxVars))
		}
		if raw[0] != '{' {
			return nil, fault.Permanent(fmt.Errorf("vars: must be a JSON object"))
		}
		if err := decode(raw, &vars); err != nil {
			return nil, fault.Permanent(fmt.Errorf("vars: %w", err))
		}
	}
	for k := range vars {
		switch {
		case !varName.MatchString(k):
			return nil, fault.Permanent(fmt.Errorf("vars: %q is not a variable name", k))
		case strings.HasPrefix(strings.ToLower(k), "ansible_"):
			return nil, fault.Permanent(fmt.Errorf("vars: %q is refused: ansible_ variables steer connections and privileges", k))
		case reserved[k]:
			return nil, fault.Permanent(fmt.Errorf("vars: %q is reserved", k))
		}
	}
	desired, err := value(r.Desired)
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("desired value: %w", err))
	}
	actual, err := value(r.Actual)
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("actual value: %w", err))
	}
	vars["driftwatch"] = map[string]any{
		"ci_id": r.CIID, "drift_id": r.DriftID, "field": r.Field,
		"desired": desired, "actual": actual, "action_id": r.ActionID,
	}
	return vars, nil
}

// value decodes a drift value; empty is null.
func value(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var v any
	return v, decode(raw, &v)
}

// decode decodes one JSON document keeping numbers as written.
func decode(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// unsafeYAML writes v as a YAML flow document, pure ASCII, in which every string (map keys
// below the top level included) carries Ansible's !unsafe tag: Ansible then treats it as
// data and never templates it, so "{{ lookup('pipe', ...) }}" stays text. Numbers carry
// explicit !!int or !!float tags, since YAML 1.1 would read 1e5 as a string.
func unsafeYAML(v map[string]any) []byte {
	var b bytes.Buffer
	writeMap(&b, v, false)
	b.WriteByte('\n')
	return b.Bytes()
}

func writeValue(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			b.WriteString("!!float ")
		} else {
			b.WriteString("!!int ")
		}
		b.WriteString(string(v))
	case string:
		writeString(b, v, true)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, x)
		}
		b.WriteByte(']')
	case map[string]any:
		writeMap(b, v, true)
	default:
		// The decoder yields only the types above; anything else is a programming error
		// and must not reach Ansible untagged.
		writeString(b, fmt.Sprint(v), true)
	}
}

func writeMap(b *bytes.Buffer, m map[string]any, tagKeys bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(b, k, tagKeys)
		b.WriteString(": ")
		writeValue(b, m[k])
	}
	b.WriteByte('}')
}

// writeString writes s as a YAML double-quoted scalar, escaping everything but printable
// ASCII, tagged !unsafe when tag is set.
func writeString(b *bytes.Buffer, s string, tag bool) {
	if tag {
		b.WriteString("!unsafe ")
	}
	b.WriteByte('"')
	for _, c := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c >= 0x20 && c < 0x7f:
			b.WriteRune(c)
		case c <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			fmt.Fprintf(b, `\U%08x`, c)
		}
	}
	b.WriteByte('"')
}
