package drift_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// referenceCanonical is the canonical form as encoding/json makes it: decode with UseNumber,
// marshal. The strict canonicaliser must agree with it byte for byte on every strict
// document, so that hashes and agent signatures stay what they were.
func referenceCanonical(t *testing.T, doc []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("reference decode %s: %v", doc, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCanonicalStrictAgreesWithEncodingJSONOnRandomDocuments(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		doc := randomDoc(r, 0)
		spaced := spaceOut(r, doc)
		got, err := drift.CanonicalStrict(spaced)
		if err != nil {
			t.Fatalf("case %d: %s: %v", i, spaced, err)
		}
		if want := referenceCanonical(t, spaced); !bytes.Equal(got, want) {
			t.Fatalf("case %d: %s\ngot  %s\nwant %s", i, spaced, got, want)
		}
	}
}

func TestCheckStrictNamesWhatIsWrongAndWhere(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, doc, want string }{
		{"refuses_a_duplicate_key", `{"a":1,"b":{"c":1,"c":2}}`, `duplicate key "c" at /b/c`},
		{"refuses_invalid_utf8_in_a_key", "{\"ci\xff\":1}", "invalid UTF-8"},
		{"refuses_invalid_utf8_in_a_value", "{\"ci_id\":\"web\xc3\"}", "invalid UTF-8 in a string at /ci_id"},
		{"refuses_a_lone_surrogate", `{"a":"\ud800"}`, "lone UTF-16 surrogate"},
		{"refuses_a_number_beyond_float64", `{"n":[1,1e999]}`, "number 1e999 is outside the range of a 64-bit float at /n/1"},
		{"refuses_a_negative_number_beyond_float64", `{"n":-1e400}`, "outside the range"},
		{"refuses_trailing_data", `{} {}`, "trailing data"},
		{"refuses_deep_nesting", strings.Repeat("[", 65) + strings.Repeat("]", 65), "nested deeper than 64"},
		{"refuses_a_control_character", "{\"a\":\"x\x01\"}", "control character"},
		{"refuses_leading_zeros", `{"a":01}`, "expected , or }"},
		{"refuses_an_empty_document", ` `, "empty document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := drift.CheckStrict([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckStrict(%q) = %v, want %q", c.doc, err, c.want)
			}
		})
	}
	for _, ok := range []string{`{"a":"\ud83d\ude00","b":1.5e300,"c":[],"d":{},"e":null,"f":true,"g":-0}`, `"x"`, `[1,2]`} {
		if err := drift.CheckStrict([]byte(ok)); err != nil {
			t.Errorf("CheckStrict(%s) = %v", ok, err)
		}
	}
}

func randomDoc(r *rand.Rand, depth int) []byte {
	kind := r.IntN(8)
	if depth > 4 {
		kind = r.IntN(4)
	}
	switch kind {
	case 0:
		return []byte(fmt.Sprint([]string{"true", "false", "null"}[r.IntN(3)]))
	case 1:
		return []byte([]string{"0", "-1", "1.50", "1e3", "2E-2", "123456789012345678901234567890", "-0.0"}[r.IntN(7)])
	case 2, 3:
		b, _ := json.Marshal(randomString(r))
		if r.IntN(3) == 0 { // \u escapes, as other encoders write them
			b = []byte(strings.NewReplacer("é", `\u00e9`, "<", `\u003c`, "/", `\/`).Replace(string(b)))
		}
		return b
	case 4, 5:
		var b bytes.Buffer
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(randomDoc(r, depth+1))
		}
		b.WriteByte(']')
		return b.Bytes()
	default:
		var b bytes.Buffer
		b.WriteByte('{')
		seen := map[string]bool{}
		for i := range r.IntN(5) {
			k := randomString(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			if i > 0 && b.Len() > 1 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			b.Write(randomDoc(r, depth+1))
		}
		b.WriteByte('}')
		return b.Bytes()
	}
}

func randomString(r *rand.Rand) string {
	parts := []string{"a", "b", "Z", "é", "✓", "😀", "<", ">", "&", "\"", "\\", "\n", "\t", "\x01", "\u2028", " ", "/", "key"}
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

// spaceOut adds insignificant white space between tokens outside strings.
func spaceOut(r *rand.Rand, doc []byte) []byte {
	var b bytes.Buffer
	in := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		b.WriteByte(c)
		if in {
			if c == '\\' {
				i++
				b.WriteByte(doc[i])
			} else if c == '"' {
				in = false
			}
			continue
		}
		if c == '"' {
			in = true
			continue
		}
		if (c == ',' || c == ':' || c == '[' || c == '{') && r.IntN(2) == 0 {
			b.WriteString(" \n\t"[:1+r.IntN(3)])
		}
	}
	return b.Bytes()
}

func TestObjectMembersReadsTheTopLevelOnceAndStrictly(t *testing.T) {
	t.Parallel()
	ms, err := drift.ObjectMembers([]byte(` {"id":"o\u002d1", "state": {"b": [1, {"c":2}], "a":1} ,"n":1.5e3,"e":{}} `))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, m := range ms {
		got = append(got, m.Key+"="+string(m.Value))
	}
	want := []string{`id="o\u002d1"`, `state={"b": [1, {"c":2}], "a":1}`, `n=1.5e3`, `e={}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("members %q, want %q", got, want)
	}
	if s, err := drift.UnquoteString(ms[0].Value); err != nil || s != "o-1" {
		t.Fatalf("unquote %q, %v", s, err)
	}
	for _, bad := range []string{`[1]`, `{"a":1,"a":2}`, `{"s":{"x":1,"x":2}}`, `{"a":"\xff"}`} {
		if _, err := drift.ObjectMembers([]byte(bad)); err == nil {
			t.Errorf("ObjectMembers(%q) accepted", bad)
		}
	}
	if ms, err := drift.ObjectMembers([]byte(`{}`)); err != nil || ms == nil || len(ms) != 0 {
		t.Fatalf("empty object: %v %v", ms, err)
	}
}

func TestSplitObjectFindsTheMembersWithoutReadingThem(t *testing.T) {
	t.Parallel()
	ms, err := drift.SplitObject([]byte(` {"id":"o\"1", "state": {"s":"}]\"", "b": [1, {"c":2}]} ,"n":-1.5e3,"t":true} `))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, m := range ms {
		got = append(got, m.Key+"="+string(m.Value))
	}
	want := []string{`id="o\"1"`, `state={"s":"}]\"", "b": [1, {"c":2}]}`, `n=-1.5e3`, `t=true`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("members %q, want %q", got, want)
	}
	for bad, why := range map[string]string{
		`{"a":1,"a":2}`: "duplicate key", `{"a":1 "b":2}`: "expected , or }", `[1]`: "not a JSON object",
		`{"a":{"b":1}`: "unterminated", `{"a":1} x`: "trailing data", "{\"\xff\":1}": "invalid UTF-8",
	} {
		if _, err := drift.SplitObject([]byte(bad)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("SplitObject(%q) = %v, want %q", bad, err, why)
		}
	}
}
