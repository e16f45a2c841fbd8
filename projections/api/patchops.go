package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// apply runs one operation on doc and returns the new document.
func (o operation) apply(doc any) (any, error) {
	switch o.op {
	case "add":
		return add(doc, o.path, o.value)
	case "remove":
		return remove(doc, o.path)
	case "replace":
		if _, err := get(doc, o.path); err != nil {
			return nil, err
		}
		if len(o.path) == 0 {
			return o.value, nil
		}
		doc, err := remove(doc, o.path)
		if err != nil {
			return nil, err
		}
		return add(doc, o.path, o.value)
	case "move":
		v, err := get(doc, o.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if slices.Equal(o.from, o.path) {
			return doc, nil
		}
		if doc, err = remove(doc, o.from); err != nil {
			return nil, err
		}
		return add(doc, o.path, v)
	case "copy":
		v, err := get(doc, o.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		return add(doc, o.path, deepCopy(v))
	case "test":
		v, err := get(doc, o.path)
		if err != nil {
			return nil, err
		}
		if !equal(v, o.value) {
			return nil, errors.New("test failed: the value differs")
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown op %q", o.op)
}

func add(doc any, p pointer, v any) (any, error) {
	if len(p) == 0 {
		return v, nil
	}
	return modify(doc, p, func(container any, key string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			c[key] = v
			return c, nil
		case []any:
			if key == "-" {
				return append(c, v), nil
			}
			i, err := index(key, len(c)+1)
			if err != nil {
				return nil, err
			}
			return slices.Insert(c, i, v), nil
		}
		return nil, fmt.Errorf("cannot add %q to a value that is neither an object nor an array", key)
	})
}

func remove(doc any, p pointer) (any, error) {
	if len(p) == 0 {
		return nil, errors.New("cannot remove the whole document")
	}
	return modify(doc, p, func(container any, key string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			if _, ok := c[key]; !ok {
				return nil, fmt.Errorf("member %q does not exist", key)
			}
			delete(c, key)
			return c, nil
		case []any:
			i, err := index(key, len(c))
			if err != nil {
				return nil, err
			}
			return slices.Delete(c, i, i+1), nil
		}
		return nil, fmt.Errorf("cannot remove %q from a value that is neither an object nor an array", key)
	})
}

// equal is RFC 6902's test equality: numbers by value, objects regardless of member order.
func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		p, okp := new(big.Rat).SetString(string(x))
		q, okq := new(big.Rat).SetString(string(y))
		return okp && okq && p.Cmp(q) == 0
	}
	return a == b
}

// deepCopy copies a decoded JSON value, so that a copied value and its source never share
// a container.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
