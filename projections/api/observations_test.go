package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
	"github.com/driftwatch/driftwatch/projections/api"
)

func TestObservations(t *testing.T) {
	t.Parallel()

	t.Run("accepts_an_observation_and_publishes_it_with_a_generated_id", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var got struct {
			ObservationID string `json:"observation_id"`
			Status        string `json:"status"`
		}
		f.do("POST", "/observations", "application/json",
			`{"ci_id":"vm-1","ci_type":"vm","state":{"power_state":"off"},"scope":["power_state"]}`).want(t, http.StatusAccepted, &got)
		if _, err := uuid.Parse(got.ObservationID); err != nil || got.Status != "accepted" {
			t.Fatalf("answer: %+v", got)
		}
		msgs := f.pub.published(topic.Observations)
		if len(msgs) != 1 || msgs[0].UUID != event.DeriveID("observation-submitted", "vm-1", got.ObservationID) {
			t.Fatalf("published %d messages on %s", len(msgs), topic.Observations)
		}
		m, err := event.DecodeMessage[event.ObservationSubmitted_v1](msgs[0])
		if err != nil || m.Fact.ID != got.ObservationID || m.Fact.Scope[0] != "power_state" || m.Subject != "vm-1" {
			t.Fatalf("published observation: %+v, %v", m, err)
		}
	})

	t.Run("keeps_the_id_the_source_gave", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var got struct {
			ObservationID string `json:"observation_id"`
		}
		f.do("POST", "/observations", "", `{"id":"src-7","ci_id":"vm-1","template_id":"t","state":{}}`).want(t, http.StatusAccepted, &got)
		if got.ObservationID != "src-7" {
			t.Fatalf("observation id %q, want src-7", got.ObservationID)
		}
	})

	t.Run("refuses_an_unknown_member_naming_it", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		p := f.do("POST", "/observations", "application/json", `{"ci_id":"vm-1","ci_type":"vm","state":{},"colour":"red"}`).
			problem(t, http.StatusBadRequest, "colour")
		if !strings.Contains(p.Detail, "colour") {
			t.Fatalf("detail %q does not name the member", p.Detail)
		}
	})

	t.Run("names_every_invalid_field", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/observations", "application/json", `{"state":[1],"scope":["/~x"]}`).
			problem(t, http.StatusBadRequest, "ci_id", "ci_type", "state", "scope[0]")
		f.do("POST", "/observations", "application/json", `{"ci_id":"vm","ci_type":"vm","state":{"a":1},"state_hash":"sha256:00"}`).
			problem(t, http.StatusBadRequest, "state_hash")
		f.do("POST", "/observations", "application/json", `{"ci_id":5}`).problem(t, http.StatusBadRequest, "ci_id")
		f.do("POST", "/observations", "application/json", `{"observed_at":"yesterday"}`).problem(t, http.StatusBadRequest, "observed_at")
		f.do("POST", "/observations", "application/json", `{"ci_id":`).problem(t, http.StatusBadRequest)
		f.do("POST", "/observations", "application/json", ``).problem(t, http.StatusBadRequest)
		if n := len(f.pub.published(topic.Observations)); n != 0 {
			t.Fatalf("published %d invalid observations", n)
		}
	})

	t.Run("answers_503_when_the_bus_refuses_it", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.pub.failWith(errors.New("redis down"))
		f.do("POST", "/observations", "application/json", `{"ci_id":"vm-1","ci_type":"vm","state":{}}`).
			problem(t, http.StatusServiceUnavailable)
	})

	t.Run("refuses_a_body_over_the_limit_with_413", func(t *testing.T) {
		t.Parallel()
		f := newFixtureOn(t, newFixture(t).store, api.Config{MaxBodyBytes: 64})
		big := `{"ci_id":"vm-1","ci_type":"vm","state":{"pad":"` + strings.Repeat("x", 100) + `"}}`
		p := f.do("POST", "/observations", "application/json", big).problem(t, http.StatusRequestEntityTooLarge)
		if !strings.Contains(p.Detail, "64 bytes") {
			t.Fatalf("detail %q does not give the limit", p.Detail)
		}
	})

	t.Run("refuses_a_media_type_other_than_json", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/observations", "application/yaml", "ci_id: vm-1\n").problem(t, http.StatusUnsupportedMediaType)
	})
}
