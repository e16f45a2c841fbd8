package api

import (
	"reflect"
	"strings"
	"time"
)

// describe names a Go type the way a JSON client thinks of it.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		if t.String() == "time.Time" {
			return "an RFC 3339 time"
		}
		return "an object"
	}
	return t.String()
}

// memberPath turns the Go field path of a decode error into the JSON member path, dropping
// the names of embedded structs (event.ObservationSubmitted_v1 embeds drift.Observation).
func memberPath(t reflect.Type, field string) string {
	embedded := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for f := range t.Fields() {
			if f.Anonymous && f.Tag.Get("json") == "" {
				embedded[f.Name] = true
				walk(f.Type)
			}
		}
	}
	walk(t)
	var out []string
	for _, seg := range strings.Split(field, ".") {
		if !embedded[seg] {
			out = append(out, seg)
		}
	}
	return strings.Join(out, ".")
}

// timeFields lists the JSON member names of the time fields of a struct type: a time that
// does not parse is reported without its member name, which this recovers when it is
// unambiguous.
func timeFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Type == reflect.TypeFor[time.Time]() && tag != "-":
			out = append(out, tag)
		case f.Anonymous && tag == "":
			out = append(out, timeFields(f.Type)...)
		}
	}
	return out
}

// knownFields lists the JSON member names of a struct type (through pointers and embedded
// structs); nil when t is not a struct, which turns off the check.
func knownFields(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]bool{}
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-" || !f.IsExported():
		case f.Anonymous && tag == "":
			for k := range knownFields(f.Type) {
				out[k] = true
			}
		case tag != "":
			out[tag] = true
		default:
			out[f.Name] = true
		}
	}
	return out
}
