package redisbus_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// roundTrip marshals msg and unmarshals the resulting values as redis would return them.
func roundTrip(t *testing.T, msg *message.Message) (*message.Message, map[string]string) {
	t.Helper()
	m := redisbus.Marshaller{MaxEntryBytes: redisbus.DefaultMaxEntryBytes}
	values, err := m.Marshal("topic", msg)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	fields := map[string]string{}
	asRedis := map[string]any{}
	for k, v := range values {
		fields[k] = string(v.([]byte))
		asRedis[k] = string(v.([]byte))
	}
	got, err := m.Unmarshal(asRedis)
	if err != nil {
		t.Fatalf("unmarshal returned an error: %v", err)
	}
	if r := got.Metadata.Get(bus.MetaMalformed); r != msg.Metadata.Get(bus.MetaMalformed) {
		t.Fatalf("round trip flagged malformed: %s", r)
	}
	return got, fields
}

// eventJSON decodes the event field into a generic map.
func eventJSON(t *testing.T, fields map[string]string) map[string]any {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal([]byte(fields[redisbus.FieldEvent]), &ev); err != nil {
		t.Fatalf("event field is not JSON: %v", err)
	}
	return ev
}

func TestMarshallerRoundTrip(t *testing.T) {
	t.Parallel()

	payloads := []struct {
		name, payload, wantType string
		wantData                bool
	}{
		{"json_object_travels_as_data", `{"a":1,"b":[true,null]}`, "application/json", true},
		{"json_number_travels_as_data", `42`, "application/json", true},
		{"json_null_travels_as_data", `null`, "application/json", true},
		{"html_characters_stay_unescaped", `{"a":"<b>&</b>"}`, "application/json", true},
		{"json_with_whitespace_travels_as_base64_to_keep_its_bytes", "{ \"a\": 1 }\n", "application/json", false},
		{"plain_text_travels_as_base64", "not json", "application/octet-stream", false},
		{"binary_travels_as_base64", "\x00\xff\xfe", "application/octet-stream", false},
		{"empty_payload_has_no_data", "", "", false},
	}
	for _, tc := range payloads {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, fields := roundTrip(t, message.NewMessage("id-1", []byte(tc.payload)))
			if string(got.Payload) != tc.payload {
				t.Errorf("payload = %q, want %q", got.Payload, tc.payload)
			}
			ev := eventJSON(t, fields)
			if ev["datacontenttype"] != nil && ev["datacontenttype"] != tc.wantType ||
				ev["datacontenttype"] == nil && tc.wantType != "" {
				t.Errorf("datacontenttype = %v, want %q", ev["datacontenttype"], tc.wantType)
			}
			if _, ok := ev["data"]; ok != tc.wantData {
				t.Errorf("event has data = %v, want %v: %s", ok, tc.wantData, fields["event"])
			}
			if strings.Contains(tc.payload, "<") && !strings.Contains(fields["event"], tc.payload) {
				t.Errorf("event does not carry the payload verbatim: %s", fields["event"])
			}
		})
	}

	t.Run("cloudevents_attributes_travel_in_the_event_only", func(t *testing.T) {
		t.Parallel()
		ts := time.Date(2025, 1, 2, 3, 4, 5, 123000000, time.UTC)
		msg := message.NewMessage("id-2", []byte(`{}`))
		msg.Metadata.Set(event.MetaType, "io.driftwatch.diff-computed.v1")
		msg.Metadata.Set(event.MetaSource, "agent/web-1")
		msg.Metadata.Set(event.MetaSubject, "ci-42")
		msg.Metadata.Set(event.MetaTime, ts.Format(time.RFC3339Nano))
		msg.Metadata.Set(event.MetaCorrelationID, "corr-1")
		msg.Metadata.Set(event.MetaCausationID, "cause-1")
		got, fields := roundTrip(t, msg)
		if _, ok := fields[redisbus.FieldMetadata]; ok {
			t.Errorf("entry has a metadata field: %s", fields[redisbus.FieldMetadata])
		}
		ev := eventJSON(t, fields)
		want := map[string]string{
			"specversion": "1.0", "id": "id-2", "type": "io.driftwatch.diff-computed.v1",
			"source": "agent/web-1", "subject": "ci-42", "time": "2025-01-02T03:04:05.123Z",
			"correlationid": "corr-1", "causationid": "cause-1",
		}
		for k, v := range want {
			if ev[k] != v {
				t.Errorf("event %s = %v, want %q", k, ev[k], v)
			}
		}
		if got.UUID != "id-2" || !maps.Equal(got.Metadata, msg.Metadata) {
			t.Errorf("got %s %v, want id-2 %v", got.UUID, got.Metadata, msg.Metadata)
		}
	})

	t.Run("other_metadata_travels_in_the_metadata_field", func(t *testing.T) {
		t.Parallel()
		msg := message.NewMessage("id-3", []byte(`{}`))
		msg.Metadata.Set("attempt", "2")
		msg.Metadata.Set(bus.MetaMalformed, "kept when a parked message is republished")
		msg.Metadata.Set(event.MetaType, "io.driftwatch.test.v1")
		got, fields := roundTrip(t, msg)
		var md map[string]string
		if err := json.Unmarshal([]byte(fields[redisbus.FieldMetadata]), &md); err != nil {
			t.Fatalf("metadata field: %v", err)
		}
		if len(md) != 2 || md["attempt"] != "2" {
			t.Errorf("metadata field = %v, want attempt and %s only", md, bus.MetaMalformed)
		}
		for k, v := range msg.Metadata {
			if got.Metadata[k] != v {
				t.Errorf("metadata %s = %q, want %q", k, got.Metadata[k], v)
			}
		}
	})

	t.Run("a_time_the_event_would_rewrite_travels_in_metadata", func(t *testing.T) {
		t.Parallel()
		msg := message.NewMessage("id-4", nil)
		msg.Metadata.Set(event.MetaTime, "2025-01-02T05:04:05+02:00")
		got, fields := roundTrip(t, msg)
		if got.Metadata.Get(event.MetaTime) != "2025-01-02T05:04:05+02:00" {
			t.Errorf("ce_time = %q, metadata field %s", got.Metadata.Get(event.MetaTime), fields["metadata"])
		}
	})

	t.Run("a_message_without_cloudevents_metadata_gets_the_defaults", func(t *testing.T) {
		t.Parallel()
		got, _ := roundTrip(t, message.NewMessage("id-5", []byte("x")))
		if got.Metadata.Get(event.MetaSource) != event.DefaultSource || got.Metadata.Get(event.MetaType) == "" {
			t.Errorf("metadata = %v, want default source and type", got.Metadata)
		}
	})
}

func TestMarshallerRefuses(t *testing.T) {
	t.Parallel()

	t.Run("a_message_without_uuid", func(t *testing.T) {
		t.Parallel()
		_, err := redisbus.Marshaller{}.Marshal("t", message.NewMessage("", nil))
		if err == nil || !strings.Contains(err.Error(), "no UUID") {
			t.Fatalf("err = %v, want no UUID", err)
		}
	})

	t.Run("a_message_over_the_entry_limit", func(t *testing.T) {
		t.Parallel()
		_, err := redisbus.Marshaller{MaxEntryBytes: 100}.Marshal("t", message.NewMessage("id", make([]byte, 200)))
		if err == nil || !strings.Contains(err.Error(), "over the 100-byte limit") || !fault.IsPermanent(err) {
			t.Fatalf("err = %v, want a permanent error: over the limit", err)
		}
	})
}
