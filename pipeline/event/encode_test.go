package event_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

func TestEncodeWritesAnEnvelopeThatDecodesToTheSameRecord(t *testing.T) {
	t.Parallel()
	hostile := []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\n\r\t", "bad\xffutf8", "sep\u2028\u2029", "<html>&", "é✓😀"}
	for _, s := range hostile {
		r := event.Record{ID: event.DeriveID(s), Subject: s, Time: time.Date(2026, 12, 1, 10, 0, 0, 7, time.UTC), CorrelationID: s, CausationID: "c",
			Fact: event.DriftResolved_v1{DriftID: "d", CIID: s, Reason: s}}
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(enc.JSON) {
			t.Fatalf("%q: invalid JSON %s", s, enc.JSON)
		}
		env, err := event.ParseEnvelope(enc.JSON)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		back, err := event.Decode[event.DriftResolved_v1](env)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		_ = json.Unmarshal(mustMarshal(t, s), &want) // what encoding/json makes of s
		if back.Subject != want || back.CorrelationID != want || back.Fact.Reason != want || !back.Time.Equal(r.Time) || back.ID != r.ID {
			t.Fatalf("%q came back as %+v", s, back)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
