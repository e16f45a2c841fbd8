package diff_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/diff"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

type fixedPolicy drift.Policy

func (p fixedPolicy) PolicyFor(context.Context, string, string, string, eventstore.Position) (drift.Policy, error) {
	return drift.Policy(p), nil
}

// stateMap is a hand-written state reader: states by hash, and how often each was read.
type stateMap struct {
	mu    sync.Mutex
	by    map[string]json.RawMessage
	reads int
}

func (m *stateMap) put(doc string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, _ := drift.Hash(json.RawMessage(doc))
	if m.by == nil {
		m.by = map[string]json.RawMessage{}
	}
	m.by[h] = json.RawMessage(doc)
	return h
}

func (m *stateMap) Get(_ context.Context, hash string) (json.RawMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	st, ok := m.by[hash]
	if !ok {
		return nil, errors.New("unknown state " + hash)
	}
	return st, nil
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
		{"ignores_a_wildcard_pointer_under_every_element",
			`{"power_state":"on","cpu_count":2,"network":[{"name":"lan","mtu":9000}],"logging":{"rotate":7,"level":"info"}}`,
			nil, []string{"/network/*/mtu"}, nil},
		{"keeps_what_a_wildcard_ignore_does_not_cover",
			`{"power_state":"on","cpu_count":2,"network":[{"name":"wan","mtu":9000}],"logging":{"rotate":7,"level":"info"}}`,
			nil, []string{"/network/*/mtu"}, []string{"/network"}},
		{"ignores_every_key_under_a_trailing_wildcard",
			`{"power_state":"on","cpu_count":2,"network":[{"name":"lan"}],"logging":{"rotate":1,"level":"debug"}}`,
			nil, []string{"/logging/*"}, nil},
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

func resolved(m *stateMap, desired, actual string) event.Message[event.DesiredStateResolved_v2] {
	dh, ah := m.put(desired), m.put(actual)
	return event.Message[event.DesiredStateResolved_v2]{ID: "in-1", Subject: "vm-1", Fact: event.DesiredStateResolved_v2{
		Observed: event.Observed{ObservationID: "o1", CIID: "vm-1", CIType: "vm", StateHash: ah},
		Managed:  true, Desired: event.DesiredRef{Source: "template", TemplateID: "t1", Version: 2, Hash: dh},
	}}
}

func newDiff(t testing.TB, m *stateMap) *diff.Diff {
	t.Helper()
	s, err := diff.New(diff.Config{UnmanagedSources: []string{"docker"}}, diff.Deps{Policies: fixedPolicy(drift.DefaultPolicy()), States: m})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandle(t *testing.T) {
	t.Parallel()
	t.Run("reads_nothing_when_the_hashes_are_equal", func(t *testing.T) {
		t.Parallel()
		m := &stateMap{}
		out, err := newDiff(t, m).Handle(context.Background(), resolved(m, `{"a":1}`, `{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		d := out[0].Fact.(event.DiffComputed_v2)
		if !d.HashEqual || len(d.Drifts) != 0 || m.reads != 0 || d.Desired.Version != 2 {
			t.Fatalf("hash_equal %v drifts %v, %d state reads", d.HashEqual, d.Drifts, m.reads)
		}
	})
	t.Run("derives_a_stable_id_from_the_input", func(t *testing.T) {
		t.Parallel()
		m := &stateMap{}
		s := newDiff(t, m)
		a, _ := s.Handle(context.Background(), resolved(m, `{"a":1}`, `{"a":2}`))
		b, _ := s.Handle(context.Background(), resolved(m, `{"a":1}`, `{"a":2}`))
		if a[0].ID != b[0].ID || len(a[0].Fact.(event.DiffComputed_v2).Drifts) != 1 {
			t.Fatalf("ids %s %s", a[0].ID, b[0].ID)
		}
	})
	t.Run("judges_an_unmanaged_ci_on_nothing", func(t *testing.T) {
		t.Parallel()
		m := &stateMap{}
		in := resolved(m, `{"a":1}`, `{"a":2}`)
		in.Fact.Managed, in.Fact.Desired = false, event.DesiredRef{}
		out, err := newDiff(t, m).Handle(context.Background(), in)
		if err != nil || len(out) != 1 {
			t.Fatalf("out %v err %v", out, err)
		}
		if d := out[0].Fact.(event.DiffComputed_v2); len(d.Checked) != 0 || len(d.Drifts) != 0 {
			t.Fatalf("diff %+v", d)
		}
	})
	t.Run("reports_an_unmanaged_ci_of_a_source_that_requires_desired_state", func(t *testing.T) {
		t.Parallel()
		m := &stateMap{}
		in := resolved(m, `{"a":1}`, `{"power_state":"running"}`)
		in.Fact.Managed, in.Fact.Desired, in.Fact.Unmanaged = false, event.DesiredRef{}, `no desired state: no template for ci_type "vm"`
		in.Fact.Observed.Source = "docker"
		out, err := newDiff(t, m).Handle(context.Background(), in)
		if err != nil || len(out) != 1 {
			t.Fatalf("out %v err %v", out, err)
		}
		d := out[0].Fact.(event.DiffComputed_v2)
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
	if _, err := diff.New(diff.Config{}, diff.Deps{}); err == nil {
		t.Fatal("want an error")
	}
}
