package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// operation is one checked RFC 6902 operation.
type operation struct {
	op         string
	path, from pointer
	rawPath    string
	value      any
}

// ApplyJSONPatch applies an RFC 6902 JSON Patch to a JSON document and returns the result.
// The patch is checked strictly first: it must be an array of operation objects, each with a
// known op, a path and the from or value members its op requires, with valid JSON pointers
// and no member given twice. An operation that does not apply (a missing target, an array
// index out of range, negative or with leading zeros, a failed test) fails the whole patch.
// Errors name the operation by its index. Numbers keep their exact text.
func ApplyJSONPatch(doc, patch []byte) ([]byte, error) {
	ops, err := parsePatch(patch)
	if err != nil {
		return nil, err
	}
	var v any
	if err := decodeNumbers(doc, &v); err != nil {
		return nil, fmt.Errorf("json patch: document: %w", err)
	}
	for i, op := range ops {
		if v, err = op.apply(v); err != nil {
			return nil, fmt.Errorf("json patch: operation %d (%s %s): %w", i, op.op, op.rawPath, err)
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json patch: encode result: %w", err)
	}
	return out, nil
}

// decodeNumbers decodes one JSON document keeping numbers as json.Number.
func decodeNumbers(data []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}

// parsePatch checks the shape of a JSON Patch document and decodes its operations.
func parsePatch(patch []byte) ([]operation, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(patch, &raws); err != nil {
		return nil, fmt.Errorf("json patch: must be an array of operations: %w", err)
	}
	ops := make([]operation, len(raws))
	for i, raw := range raws {
		op, err := parseOp(raw)
		if err != nil {
			return nil, fmt.Errorf("json patch: operation %d: %w", i, err)
		}
		ops[i] = op
	}
	return ops, nil
}

// needs lists, per RFC 6902 operation, the member it requires besides op and path.
var needs = map[string]string{"add": "value", "remove": "", "replace": "value", "move": "from", "copy": "from", "test": "value"}

func parseOp(raw json.RawMessage) (operation, error) {
	var op operation
	members, err := objectMembers(raw)
	if err != nil {
		return op, err
	}
	if err := stringMember(members, "op", &op.op); err != nil {
		return op, err
	}
	need, known := needs[op.op]
	if !known {
		return op, fmt.Errorf("op: %q is not one of add, remove, replace, move, copy, test", op.op)
	}
	if err := stringMember(members, "path", &op.rawPath); err != nil {
		return op, err
	}
	if op.path, err = parsePointer(op.rawPath); err != nil {
		return op, fmt.Errorf("path: %w", err)
	}
	switch need {
	case "value":
		raw, ok := members["value"]
		if !ok {
			return op, fmt.Errorf("value: required by op %q", op.op)
		}
		if err := decodeNumbers(raw, &op.value); err != nil {
			return op, fmt.Errorf("value: %w", err)
		}
	case "from":
		var from string
		if err := stringMember(members, "from", &from); err != nil {
			return op, fmt.Errorf("%w by op %q", err, op.op)
		}
		if op.from, err = parsePointer(from); err != nil {
			return op, fmt.Errorf("from: %w", err)
		}
		if op.op == "move" && len(op.path) > len(op.from) && slices.Equal(op.path[:len(op.from)], op.from) {
			return op, fmt.Errorf("from: %q cannot move into its own child %q", from, op.rawPath)
		}
	}
	return op, nil
}

// objectMembers decodes a JSON object, refusing a member given twice (the operation would be
// ambiguous).
func objectMembers(raw json.RawMessage) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("must be a JSON object")
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := members[key]; dup {
			return nil, fmt.Errorf("%s: member given twice", key)
		}
		members[key] = v
	}
	return members, nil
}

// stringMember reads a required string member.
func stringMember(members map[string]json.RawMessage, name string, out *string) error {
	raw, ok := members[name]
	if !ok {
		return fmt.Errorf("%s: required", name)
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || json.Unmarshal(raw, out) != nil {
		return fmt.Errorf("%s: must be a string", name)
	}
	return nil
}

// ApplyMergePatch applies an RFC 7396 JSON Merge Patch to a JSON document.
func ApplyMergePatch(doc, patch []byte) ([]byte, error) {
	var target, p any
	if err := decodeNumbers(doc, &target); err != nil {
		return nil, fmt.Errorf("merge patch: document: %w", err)
	}
	if err := decodeNumbers(patch, &p); err != nil {
		return nil, fmt.Errorf("merge patch: not a JSON document: %w", err)
	}
	out, err := json.Marshal(mergePatch(target, p))
	if err != nil {
		return nil, fmt.Errorf("merge patch: encode result: %w", err)
	}
	return out, nil
}

// mergePatch is RFC 7396's MergePatch(Target, Patch).
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}
