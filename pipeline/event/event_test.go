package event_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

func TestARecordRoundTripsThroughAWatermillMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 12, 0, 0, 123, time.UTC)
	in := event.Record{ID: event.DeriveID("x"), Subject: "vm-1", Time: at, CorrelationID: "c-1", CausationID: "k-1",
		Fact: event.DriftResolved_v1{DriftID: "d-1", CIID: "vm-1", Field: "/power_state", Reason: "matches"}}
	msg, err := in.ToMessage()
	if err != nil {
		t.Fatal(err)
	}
	out, err := event.DecodeMessage[event.DriftResolved_v1](msg)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Subject != "vm-1" || !out.Time.Equal(at) || out.CorrelationID != "c-1" || out.CausationID != "k-1" || out.Fact.DriftID != "d-1" {
		t.Fatalf("round trip gave %+v", out)
	}
	if _, err := event.DecodeMessage[event.DriftDetected_v1](msg); err == nil || !strings.Contains(err.Error(), "type:") {
		t.Fatalf("decoding as the wrong type: %v", err)
	}
}

func TestEnvelopeOfCarriesNonJSONPayloadsAsBase64(t *testing.T) {
	t.Parallel()
	msg := message.NewMessage("id-1", []byte{0xff, 0x00, 'x'})
	e := event.EnvelopeOf(msg)
	if e.DataBase64 == "" || e.Data != nil || e.Type != "io.driftwatch.message" || e.Source != event.DefaultSource {
		t.Fatalf("envelope %+v", e)
	}
	back, err := e.Message()
	if err != nil || string(back.Payload) != string(msg.Payload) || back.UUID != "id-1" {
		t.Fatalf("payload %q, %v", back.Payload, err)
	}
}

func TestParseEnvelopeNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`nope`: "not a CloudEvents JSON document",
		`{"specversion":"0.3","id":"1","source":"s","type":"t"}`: `specversion: "0.3"`,
		`{"specversion":"1.0","source":"s","type":"t"}`:          "id: required",
		`{"specversion":"1.0","id":"1","type":"t"}`:              "source: required",
		`{"specversion":"1.0","id":"1","source":"s"}`:            "type: required",
	} {
		if _, err := event.ParseEnvelope([]byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseEnvelope(%s) = %v, want an error naming %q", raw, err, want)
		}
	}
}

func TestDeriveIDIsStableAndDistinguishesParts(t *testing.T) {
	t.Parallel()
	if event.DeriveID("a", "b") != event.DeriveID("a", "b") {
		t.Fatal("not stable")
	}
	if event.DeriveID("a", "b") == event.DeriveID("ab") || event.DeriveID("a", "b") == event.DeriveID("b", "a") {
		t.Fatal("different parts gave the same id")
	}
}

func TestStoredFactsLiveInTheStreamOfTheirSubject(t *testing.T) {
	t.Parallel()
	r := event.Record{ID: event.DeriveID("s"), Subject: "vm-1", Fact: event.DriftDetected_v1{DriftID: "d"}}
	ev, stream, err := r.StoreEvent()
	if err != nil || stream != "drift-vm-1" || ev.Type != event.TypeDriftDetected {
		t.Fatalf("stream %q type %q err %v", stream, ev.Type, err)
	}
	var env event.Envelope
	if err := json.Unmarshal(ev.Data, &env); err != nil || env.ID != r.ID || env.Subject != "vm-1" {
		t.Fatalf("stored data %s: %v", ev.Data, err)
	}
	if event.TopicOf(event.TypeDriftDetected) != "drift.detected" || event.StreamOf(event.TypePoison, "x") != "poison-x" {
		t.Fatal("routes changed: drift.detected is a public stream key; poison is stored beside its subject")
	}
	if event.StateStream("sha256:ab") != "state-sha256:ab" || event.TopicOf(event.TypeStateRecorded) != "" || event.TopicOf(event.TypeObservationUnchanged) != "" {
		t.Fatal("states and unchanged observations are stored and never published")
	}
}
