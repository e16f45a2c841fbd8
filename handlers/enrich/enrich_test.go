package enrich_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/template"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/states"
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

// waiter records the positions it was asked to wait for.
type waiter struct{ asked []eventstore.Position }

func (w *waiter) WaitFor(_ context.Context, pos eventstore.Position) error {
	w.asked = append(w.asked, pos)
	return nil
}

func received(ciType, templateID string) event.Message[event.ObservationReceived_v2] {
	return event.Message[event.ObservationReceived_v2]{ID: "r-1", Subject: "vm-1", Position: 42, Fact: event.ObservationReceived_v2{
		Observed: event.Observed{ObservationID: "o-1", CIID: "vm-1", CIType: ciType, TemplateID: templateID, StateHash: "sha256:x"}}}
}

func newEnrich(t *testing.T, c catalog) (*enrich.Enrich, *waiter) {
	t.Helper()
	w := &waiter{}
	src, err := template.New(c, w)
	if err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(t.TempDir(), "events")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	st, _ := states.New(states.Config{}, store)
	s, err := enrich.New(enrich.Deps{Source: src, States: st, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

func TestHandle(t *testing.T) {
	t.Parallel()
	web, _ := drift.Hash(json.RawMessage(`{"a":1}`))
	db, _ := drift.Hash(json.RawMessage(`{"b":1}`))
	c := catalog{templates: map[string]drift.Template{
		"web": {ID: "web", ResourceType: "vm", Version: 3, Definition: json.RawMessage(`{"a":1}`), BaselineHash: web},
		"db":  {ID: "db", ResourceType: "db", Version: 1, Definition: json.RawMessage(`{ "b" : 1 }`), BaselineHash: db},
	}}
	cases := []struct {
		name       string
		in         event.Message[event.ObservationReceived_v2]
		managed    bool
		templateID string
	}{
		{"resolves_by_ci_type", received("vm", ""), true, "web"},
		{"prefers_the_named_template", received("vm", "db"), true, "db"},
		{"marks_a_ci_without_desired_state_unmanaged", received("switch", ""), false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, w := newEnrich(t, c)
			out, err := s.Handle(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			last := out[len(out)-1]
			r := last.Fact.(event.DesiredStateResolved_v2)
			if r.Managed != tc.managed || r.Desired.TemplateID != tc.templateID || last.ID != event.DeriveID("desired-state-resolved", "r-1") {
				t.Fatalf("got managed %v template %q id %s", r.Managed, r.Desired.TemplateID, last.ID)
			}
			if len(w.asked) != 1 || w.asked[0] != 42 {
				t.Fatalf("the catalogue was asked to reach %v, want the message's position 42", w.asked)
			}
			if !tc.managed {
				if len(out) != 1 || r.Unmanaged == "" {
					t.Fatalf("unmanaged: %+v, %d records", r, len(out))
				}
				return
			}
			tmpl := c.templates[tc.templateID]
			if r.Desired.Hash != tmpl.BaselineHash || r.Desired.Source != "template" || r.Desired.Version != tmpl.Version {
				t.Fatalf("desired state not carried: %+v", r.Desired)
			}
			// The definition is recorded once, canonical, under its hash.
			st, ok := out[0].Fact.(event.StateRecorded_v1)
			want, _ := drift.Canonical(tmpl.Definition)
			if len(out) != 2 || !ok || st.Hash != tmpl.BaselineHash || string(st.State) != string(want) {
				t.Fatalf("records %+v", out)
			}
		})
	}
}

func TestHandleRetriesWhenTheSourceFails(t *testing.T) {
	t.Parallel()
	s, _ := newEnrich(t, catalog{err: errors.New("catalogue closed")})
	if _, err := s.Handle(context.Background(), received("vm", "")); err == nil {
		t.Fatal("a failing source gave no error")
	}
}
