package enrich_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/template"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// catalog is a hand-written template catalogue: by id, else by type.
type catalog struct {
	templates map[string]drift.Template
	err       error
}

func (c catalog) TemplateFor(_ context.Context, ciType, templateID string) (drift.Template, bool, error) {
	if c.err != nil {
		return drift.Template{}, false, c.err
	}
	for _, t := range c.templates {
		if (templateID != "" && t.ID == templateID) || (templateID == "" && t.ResourceType == ciType) {
			return t, true, nil
		}
	}
	return drift.Template{}, false, nil
}

func received(ciType, templateID string) event.Message[event.ObservationReceived_v1] {
	return event.Message[event.ObservationReceived_v1]{ID: "r-1", Subject: "vm-1", Fact: event.ObservationReceived_v1{
		ObservationID: "o-1", CIID: "vm-1", CIType: ciType, TemplateID: templateID, State: json.RawMessage(`{}`)}}
}

func newEnrich(t *testing.T, c catalog) *enrich.Enrich {
	t.Helper()
	src, err := template.New(c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := enrich.New(src, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandle(t *testing.T) {
	t.Parallel()
	c := catalog{templates: map[string]drift.Template{
		"web": {ID: "web", ResourceType: "vm", Definition: json.RawMessage(`{"a":1}`), BaselineHash: "sha256:web"},
		"db":  {ID: "db", ResourceType: "db", Definition: json.RawMessage(`{"b":1}`), BaselineHash: "sha256:db"},
	}}
	s := newEnrich(t, c)
	cases := []struct {
		name       string
		in         event.Message[event.ObservationReceived_v1]
		managed    bool
		templateID string
	}{
		{"resolves_by_ci_type", received("vm", ""), true, "web"},
		{"prefers_the_named_template", received("vm", "db"), true, "db"},
		{"marks_a_ci_without_desired_state_unmanaged", received("switch", ""), false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.Handle(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			r := out[0].Fact.(event.DesiredStateResolved_v1)
			if r.Managed != tc.managed || r.TemplateID != tc.templateID || out[0].ID != event.DeriveID("desired-state-resolved", "r-1") {
				t.Fatalf("got managed %v template %q id %s", r.Managed, r.TemplateID, out[0].ID)
			}
			if tc.managed && (r.BaselineHash != c.templates[tc.templateID].BaselineHash || r.DesiredSource != "template") {
				t.Fatalf("desired state not carried: %+v", r)
			}
		})
	}
}

func TestHandleReturnsSourceFailuresForRetry(t *testing.T) {
	t.Parallel()
	s := newEnrich(t, catalog{err: errors.New("netbox: 503")})
	if _, err := s.Handle(context.Background(), received("vm", "")); err == nil {
		t.Fatal("want the source's error")
	}
}
