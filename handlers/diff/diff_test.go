package diff_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/diff"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

type fixedPolicy drift.Policy

func (p fixedPolicy) PolicyFor(context.Context, string, string) (drift.Policy, error) {
	return drift.Policy(p), nil
}

func fields(ds []drift.FieldDrift) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Field
	}
	return out
}

func TestCompare(t *testing.T) {
	t.Parallel()
	desired := `{"power_state":"on","cpu_count":2,"network":[{"name":"lan"}],"logging":{"rotate":7,"level":"info"}}`
	cases := []struct {
		name      string
		actual    string
		monitored []string
		ignore    []string
		want      []string
	}{
		{"reports_nothing_for_an_equal_state", desired, nil, nil, nil},
		{"reports_each_top_level_field_when_every_field_is_monitored",
			`{"power_state":"off","cpu_count":4,"network":[{"name":"lan"}],"logging":{"rotate":7,"level":"info"}}`, nil, nil,
			[]string{"/cpu_count", "/power_state"}},
		{"reports_only_monitored_fields",
			`{"power_state":"off","cpu_count":4,"network":[{"name":"lan"}],"logging":{"rotate":7,"level":"info"}}`,
			[]string{"power_state"}, nil, []string{"/power_state"}},
		{"groups_nested_changes_under_their_monitored_field",
			`{"power_state":"on","cpu_count":2,"network":[{"name":"wan"},{"name":"dmz"}],"logging":{"rotate":7,"level":"info"}}`,
			[]string{"network"}, nil, []string{"/network"}},
		{"ignores_rotated_log_settings",
			`{"power_state":"on","cpu_count":2,"network":[{"name":"lan"}],"logging":{"rotate":30,"level":"info"}}`,
			nil, []string{"/logging/rotate"}, nil},
		{"reports_a_removed_field_as_missing",
			`{"power_state":"on","network":[{"name":"lan"}],"logging":{"rotate":7,"level":"info"}}`, nil, nil,
			[]string{"/cpu_count"}},
		{"reports_an_added_field",
			`{"power_state":"on","cpu_count":2,"extra":true,"network":[{"name":"lan"}],"logging":{"rotate":7,"level":"info"}}`, nil, nil,
			[]string{"/extra"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := drift.Policy{MonitoredFields: c.monitored}
			got, err := diff.Compare(json.RawMessage(desired), json.RawMessage(c.actual), diff.Checked(p, nil), c.ignore)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fields(got), c.want) {
				t.Fatalf("fields %v, want %v", fields(got), c.want)
			}
		})
	}
}

func TestCompareCarriesDesiredActualAndPatch(t *testing.T) {
	t.Parallel()
	got, err := diff.Compare(json.RawMessage(`{"a":1,"b":{"c":"x"}}`), json.RawMessage(`{"b":{"c":"y"}}`), []string{""}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d drifts, want 2", len(got))
	}
	a, b := got[0], got[1]
	if string(a.Desired) != "1" || string(a.Actual) != "null" || !a.ActualMissing || a.DesiredMissing {
		t.Errorf("/a: desired %s actual %s missing %v", a.Desired, a.Actual, a.ActualMissing)
	}
	if string(b.Desired) != `{"c":"x"}` || string(b.Actual) != `{"c":"y"}` {
		t.Errorf("/b: desired %s actual %s", b.Desired, b.Actual)
	}
	if string(b.Patch) != `[{"value":"y","op":"replace","path":"/b/c"}]` {
		t.Errorf("/b patch %s", b.Patch)
	}
}

func TestCheckedNarrowsMonitoredFieldsToTheObservationScope(t *testing.T) {
	t.Parallel()
	p := drift.Policy{MonitoredFields: []string{"power_state", "/network", "cpu_count"}}
	got := diff.Checked(p, []string{"/network/0", "/power_state"})
	if want := []string{"/network/0", "/power_state"}; !slices.Equal(got, want) {
		t.Fatalf("checked %v, want %v", got, want)
	}
	if got := diff.Checked(drift.Policy{}, []string{"/files"}); !slices.Equal(got, []string{"/files"}) {
		t.Fatalf("checked %v, want [/files]", got)
	}
}

func resolved(desired, actual string) event.Message[event.DesiredStateResolved_v1] {
	dh, _ := drift.Hash(json.RawMessage(desired))
	ah, _ := drift.Hash(json.RawMessage(actual))
	return event.Message[event.DesiredStateResolved_v1]{ID: "in-1", Subject: "vm-1", Fact: event.DesiredStateResolved_v1{
		Observation: event.ObservationReceived_v1{ObservationID: "o1", CIID: "vm-1", CIType: "vm", State: json.RawMessage(actual), StateHash: ah},
		Managed:     true, TemplateID: "t1", Desired: json.RawMessage(desired), BaselineHash: dh,
	}}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	s, err := diff.New(diff.Config{UnmanagedSources: []string{"docker"}}, fixedPolicy(drift.DefaultPolicy()), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("short_circuits_on_equal_hashes", func(t *testing.T) {
		in := resolved(`{"a":1}`, `{"a":1}`)
		in.Fact.Desired = json.RawMessage(`not json: proves nothing was decoded`)
		out, err := s.Handle(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		d := out[0].Fact.(event.DiffComputed_v1)
		if !d.HashEqual || len(d.Drifts) != 0 {
			t.Fatalf("hash_equal %v drifts %v", d.HashEqual, d.Drifts)
		}
	})
	t.Run("derives_a_stable_id_from_the_input", func(t *testing.T) {
		a, _ := s.Handle(context.Background(), resolved(`{"a":1}`, `{"a":2}`))
		b, _ := s.Handle(context.Background(), resolved(`{"a":1}`, `{"a":2}`))
		if a[0].ID != b[0].ID || len(a[0].Fact.(event.DiffComputed_v1).Drifts) != 1 {
			t.Fatalf("ids %s %s", a[0].ID, b[0].ID)
		}
	})
	t.Run("emits_nothing_for_an_unmanaged_ci", func(t *testing.T) {
		in := resolved(`{"a":1}`, `{"a":2}`)
		in.Fact.Managed = false
		out, err := s.Handle(context.Background(), in)
		if err != nil || len(out) != 0 {
			t.Fatalf("out %v err %v", out, err)
		}
	})
	t.Run("reports_an_unmanaged_ci_of_a_source_that_requires_desired_state", func(t *testing.T) {
		in := resolved(`{"a":1}`, `{"power_state":"running"}`)
		in.Fact.Managed, in.Fact.Desired, in.Fact.BaselineHash, in.Fact.TemplateID = false, nil, "", ""
		in.Fact.Observation.Source = "docker"
		out, err := s.Handle(context.Background(), in)
		if err != nil || len(out) != 1 {
			t.Fatalf("out %v err %v", out, err)
		}
		d := out[0].Fact.(event.DiffComputed_v1)
		if len(d.Drifts) != 1 || !slices.Equal(d.Checked, []string{""}) || d.Policy.Category != drift.CategoryState {
			t.Fatalf("diff %+v", d)
		}
		if f := d.Drifts[0]; f.Field != "" || !f.DesiredMissing || string(f.Actual) != `{"power_state":"running"}` || !strings.Contains(f.Detail, `ci_type "vm"`) {
			t.Fatalf("finding %+v", f)
		}
	})
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	if _, err := diff.New(diff.Config{}, nil, nil); err == nil {
		t.Fatal("want an error")
	}
}
