package redisbus_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

const goodEvent = `{"specversion":"1.0","id":"e-1","source":"s","type":"t","data":{"a":1}}`

func TestUnmarshalFlagsMalformedEntries(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name       string
		values     map[string]any
		wantReason string // exact reason, or a substring when wantExact is false
		wantExact  bool
	}{
		{"an_entry_without_an_event_field", map[string]any{"payload": "x"},
			`entry has no "event" field`, true},
		{"an_event_that_is_not_json", map[string]any{"event": "{not json"},
			`event: not a CloudEvents JSON document: `, false},
		{"an_event_that_is_a_json_string", map[string]any{"event": `"hello"`},
			`event: not a CloudEvents JSON document: `, false},
		{"an_event_of_the_wrong_specversion", map[string]any{"event": `{"specversion":"0.3","id":"1","source":"s","type":"t"}`},
			`event: invalid CloudEvent: specversion: "0.3", want "1.0"`, true},
		{"an_event_without_specversion", map[string]any{"event": `{"id":"1","source":"s","type":"t"}`},
			`specversion: "", want "1.0"`, false},
		{"an_event_without_id", map[string]any{"event": `{"specversion":"1.0","source":"s","type":"t"}`},
			`id: required`, false},
		{"an_event_without_source", map[string]any{"event": `{"specversion":"1.0","id":"1","type":"t"}`},
			`source: required`, false},
		{"an_event_without_type", map[string]any{"event": `{"specversion":"1.0","id":"1","source":"s"}`},
			`type: required`, false},
		{"an_event_missing_everything_names_every_problem_on_one_line", map[string]any{"event": `{}`},
			`event: invalid CloudEvent: specversion: "", want "1.0"; id: required; source: required; type: required`, true},
		{"an_event_with_bad_base64_data", map[string]any{"event": `{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"%%%"}`},
			`event: data_base64: `, false},
		{"metadata_that_is_not_json", map[string]any{"event": goodEvent, "metadata": "nope"},
			`metadata: not a JSON object of strings: `, false},
		{"metadata_with_a_number_value", map[string]any{"event": goodEvent, "metadata": `{"a":1}`},
			`metadata: not a JSON object of strings: `, false},
		{"metadata_that_is_an_array", map[string]any{"event": goodEvent, "metadata": `["a"]`},
			`metadata: not a JSON object of strings: `, false},
		{"metadata_that_is_null", map[string]any{"event": goodEvent, "metadata": `null`},
			`metadata: null, want a JSON object of strings`, true},
		{"an_entry_over_the_size_limit", map[string]any{"event": goodEvent, "junk": strings.Repeat("x", 9_000_000)},
			fmt.Sprintf(`entry is %d bytes, over the 8388608-byte limit`, len("event")+len(goodEvent)+len("junk")+9_000_000), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg, err := redisbus.Marshaller{MaxEntryBytes: redisbus.DefaultMaxEntryBytes}.Unmarshal(tc.values)
			if err != nil {
				t.Fatalf("unmarshal returned an error: %v", err)
			}
			reason := msg.Metadata.Get(bus.MetaMalformed)
			if tc.wantExact && reason != tc.wantReason || !tc.wantExact && !strings.Contains(reason, tc.wantReason) {
				t.Errorf("reason = %q, want %q", reason, tc.wantReason)
			}
			if strings.Contains(reason, "\n") {
				t.Errorf("reason spans lines: %q", reason)
			}
			if msg.UUID == "" || msg.UUID == "e-1" || msg.UUID == "1" {
				t.Errorf("uuid = %q, want a fresh one", msg.UUID)
			}
			var raw map[string]string
			if err := json.Unmarshal(msg.Payload, &raw); err != nil {
				t.Fatalf("payload is not a JSON object of strings: %v", err)
			}
			for k, v := range tc.values {
				want := v.(string)
				if len(want) > 4096 {
					want = want[:4096]
				}
				if raw[k] != want {
					t.Errorf("raw field %s = %.40q…, want %.40q…", k, raw[k], want)
				}
			}
		})
	}
}

func TestMalformedKeepsTheRawCopySmall(t *testing.T) {
	t.Parallel()

	t.Run("cuts_values_on_a_rune_boundary", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("é", 3000) // 6000 bytes, two per rune
		msg := redisbus.Malformed("r", map[string]string{"event": long})
		var raw map[string]string
		if err := json.Unmarshal(msg.Payload, &raw); err != nil {
			t.Fatal(err)
		}
		if got := raw["event"]; len(got) != 4096 || got != long[:4096] {
			t.Errorf("kept %d bytes, want the first 4096", len(got))
		}
	})

	t.Run("keeps_at_most_32_fields_with_the_wire_fields_first", func(t *testing.T) {
		t.Parallel()
		fields := map[string]string{"event": "e", "metadata": "m"}
		for i := range 100 {
			fields[fmt.Sprintf("f%03d", i)] = "v"
		}
		var raw map[string]string
		if err := json.Unmarshal(redisbus.Malformed("r", fields).Payload, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != 32 || raw["event"] != "e" || raw["metadata"] != "m" || raw["f000"] != "v" {
			t.Errorf("raw copy has %d fields: %v", len(raw), raw)
		}
	})
}

func TestAnEntryThatIsNotStrictJSONIsRefusedWhereItIsRead(t *testing.T) {
	t.Parallel()
	// The envelope's own attributes are checked as the entry is read.
	for raw, want := range map[string]string{
		`{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t"}`:            `duplicate key "id"`,
		"{\"specversion\":\"1.0\",\"id\":\"1\xff\",\"source\":\"s\",\"type\":\"t\"}": "invalid UTF-8",
	} {
		msg := redisbus.DecodeEntry(map[string]any{redisbus.FieldEvent: raw}, 0)
		if reason := msg.Metadata.Get(bus.MetaMalformed); !strings.Contains(reason, want) {
			t.Errorf("entry %s: malformed reason %q, want %q", raw, reason, want)
		}
	}
	// A submitted observation's data is checked once, by its decoder.
	for data, want := range map[string]string{
		`{"ci_id":"a","ci_id":"b","state":{}}`: `duplicate key "ci_id"`,
		"{\"ci_id\":\"web\xff\",\"state\":{}}": "ci_id: must be a string",
	} {
		raw := `{"specversion":"1.0","id":"1","source":"s","type":"` + event.TypeObservationSubmitted + `","data":` + data + `}`
		msg := redisbus.DecodeEntry(map[string]any{redisbus.FieldEvent: raw}, 0)
		if reason := msg.Metadata.Get(bus.MetaMalformed); reason != "" {
			t.Fatalf("entry %s flagged %q before its data's decoder saw it", raw, reason)
		}
		if _, err := event.DecodeMessage[event.ObservationSubmitted_v1](msg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("data %s: decode error %v, want %q", data, err, want)
		}
	}
}
