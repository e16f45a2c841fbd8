package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
	"github.com/driftwatch/driftwatch/projections/api"
)

func TestObservations(t *testing.T) {
	t.Parallel()

	t.Run("ingests_an_observation_at_the_door_and_publishes_what_changed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		var got struct {
			ObservationID string `json:"observation_id"`
			Status        string `json:"status"`
		}
		body := `{"ci_id":"vm-1","ci_type":"vm","state":{"power_state":"off"},"scope":["power_state"]}`
		f.do("POST", "/observations", "application/json", body).want(t, http.StatusAccepted, &got)
		if got.ObservationID == "" || got.Status != "accepted" {
			t.Fatalf("answer: %+v", got)
		}
		msgs := f.pub.published(topic.ObservationReceivedV2)
		if len(msgs) != 1 {
			t.Fatalf("published %d messages on %s", len(msgs), topic.ObservationReceivedV2)
		}
		m, err := event.DecodeMessage[event.ObservationReceived_v2](msgs[0])
		if err != nil || m.Fact.ObservationID != got.ObservationID || m.Fact.Scope[0] != "/power_state" || m.Subject != "vm-1" || m.Position == 0 {
			t.Fatalf("published observation: %+v, %v", m, err)
		}
		// The same POST again (the same instant, so the same observation) and the same state
		// observed later publish nothing.
		for _, c := range []struct{ body, status string }{
			{body, "duplicate"},
			{`{"ci_id":"vm-1","ci_type":"vm","state":{"power_state":"off"},"observed_at":"2026-02-22T12:00:01Z"}`, "unchanged"},
		} {
			body, status := c.body, c.status
			f.do("POST", "/observations", "application/json", body).want(t, http.StatusAccepted, &got)
			if got.Status != status || len(f.pub.published(topic.ObservationReceivedV2)) != 1 {
				t.Fatalf("again: %+v, want %s; %d published", got, status, len(f.pub.published(topic.ObservationReceivedV2)))
			}
		}
	})

	t.Run("refuses_what_a_later_stage_would_refuse_naming_it", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		for body, want := range map[string]string{
			`{"ci_id":"vm-1","ci_id":"vm-2","ci_type":"vm","state":{}}`:                       "ci_id",
			"{\"ci_id\":\"vm\u0001\",\"ci_type\":\"vm\",\"state\":{}}":                        "ci_id",
			`{"ci_id":"vm-1","ci_type":"vm","state":{"n":1e999}}`:                             "state",
			`{"ci_id":"vm-1","ci_type":"vm","state":{},"observed_at":"9999-01-01T00:00:00Z"}`: "observed_at",
			"{\"ci_id\":\"web\xff\",\"ci_type\":\"vm\",\"state\":{}}":                         "ci_id",
		} {
			f.do("POST", "/observations", "application/json", body).problem(t, http.StatusBadRequest, want)
		}
		f.do("POST", "/observations", "application/json; charset=latin1", `{"ci_id":"vm-1","ci_type":"vm","state":{}}`).
			problem(t, http.StatusUnsupportedMediaType)
		if n := len(f.pub.published(topic.ObservationReceivedV2)); n != 0 {
			t.Fatalf("published %d refused observations", n)
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

	t.Run("refuses_an_unsigned_observation_at_once_where_signatures_are_required", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.do("POST", "/observations", "application/json", `{"ci_id":"vm-1","ci_type":"vm","agent_id":"ghost","signature":"AAAA","state":{},"state_hash":"sha256:00"}`).
			problem(t, http.StatusForbidden)
		if n := len(f.pub.published(topic.ObservationRejected)); n != 1 {
			t.Fatalf("%d rejections published, want the forged observation recorded as rejected", n)
		}
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
