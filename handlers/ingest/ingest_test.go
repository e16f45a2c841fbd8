package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

var clock = func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) }

func submitted(o drift.Observation) event.Message[event.ObservationSubmitted_v1] {
	return event.Message[event.ObservationSubmitted_v1]{ID: "m1", Time: clock(), Fact: event.ObservationSubmitted_v1{Observation: o}}
}

func TestHandleNormalisesAValidObservation(t *testing.T) {
	t.Parallel()
	s, _ := ingest.New(clock)
	out, err := s.Handle(context.Background(), submitted(drift.Observation{
		ID: "obs-1", CIID: "  vm-1 ", CIType: "VM", State: json.RawMessage(`{ "b": 1, "a": [true] }`),
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := out[0].Fact.(event.ObservationReceived_v1)
	if r.CIID != "vm-1" || r.CIType != "vm" || out[0].Subject != "vm-1" {
		t.Errorf("ci %q type %q subject %q", r.CIID, r.CIType, out[0].Subject)
	}
	if string(r.State) != `{"a":[true],"b":1}` {
		t.Errorf("state %s is not canonical", r.State)
	}
	if want, _ := drift.Hash(r.State); r.StateHash != want {
		t.Errorf("hash %s, want %s", r.StateHash, want)
	}
	if !r.ObservedAt.Equal(clock()) || r.Source != "api" {
		t.Errorf("observed_at %v source %q", r.ObservedAt, r.Source)
	}
}

func TestHandleDeduplicatesTheSameObservation(t *testing.T) {
	t.Parallel()
	s, _ := ingest.New(clock)
	o := drift.Observation{CIID: "vm-1", CIType: "vm", State: json.RawMessage(`{"a":1}`)}
	a, _ := s.Handle(context.Background(), submitted(o))
	o.State = json.RawMessage(`{ "a" : 1 }`)
	b, _ := s.Handle(context.Background(), submitted(o))
	if a[0].ID != b[0].ID {
		t.Fatalf("same observation got ids %s and %s", a[0].ID, b[0].ID)
	}
	o.State = json.RawMessage(`{"a":2}`)
	c, _ := s.Handle(context.Background(), submitted(o))
	if c[0].ID == a[0].ID {
		t.Fatal("a different state got the same id")
	}
}

func TestHandleRejectsBadInputPermanentlyNamingEachField(t *testing.T) {
	t.Parallel()
	s, _ := ingest.New(clock)
	cases := map[string]struct {
		o    drift.Observation
		want []string
	}{
		"rejects_a_missing_ci_and_state":        {drift.Observation{CIType: "vm"}, []string{"ci_id", "state"}},
		"rejects_a_state_that_is_not_an_object": {drift.Observation{CIID: "x", CIType: "vm", State: json.RawMessage(`[1]`)}, []string{"state"}},
		"rejects_a_wrong_state_hash":            {drift.Observation{CIID: "x", CIType: "vm", State: json.RawMessage(`{}`), StateHash: "sha256:00"}, []string{"state_hash"}},
		"rejects_a_missing_type":                {drift.Observation{CIID: "x", State: json.RawMessage(`{}`)}, []string{"ci_type"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Handle(context.Background(), submitted(c.o))
			if !fault.IsPermanent(err) {
				t.Fatalf("err %v is not permanent", err)
			}
			for _, f := range c.want {
				if !strings.Contains(err.Error(), f+":") {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
}
