package drift_test

import (
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

func TestFieldOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, path string
		checked    []string
		want       string
		ok         bool
	}{
		{"makes_each_top_level_key_a_field_under_the_root", "/network/0/name", []string{""}, "/network", true},
		{"keeps_a_change_under_its_monitored_field", "/network/0/name", []string{"/cpu", "/network"}, "/network", true},
		{"ignores_a_change_outside_every_checked_field", "/memory", []string{"/cpu", "/network"}, "", false},
		{"makes_each_key_under_a_wildcard_its_own_field", "/files/~1etc~1hosts/sha256", []string{"/files/*"}, "/files/~1etc~1hosts", true},
		{"gives_a_parent_change_to_the_checked_field_below_it", "/network", []string{"/network/0"}, "/network/0", true},
		{"keeps_a_parent_change_above_a_wildcard_as_it_is", "/files", []string{"/files/*"}, "/files", true},
		{"does_not_mistake_a_shared_name_prefix_for_a_parent", "/cpu_count", []string{"/cpu"}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, ok := drift.FieldOf(c.path, c.checked)
			if got != c.want || ok != c.ok {
				t.Fatalf("FieldOf(%q, %q) = %q, %v; want %q, %v", c.path, c.checked, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestUnderPointerMatchesWildcardTokens(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path, prefix string
		want         bool
	}{
		{"/a/b", "", true}, {"/a/b", "/a", true}, {"/a", "/a", true}, {"/ab", "/a", false},
		{"/a", "/a/b", false}, {"/files/x/y", "/files/*", true}, {"/files", "/files/*", false},
	} {
		if got := drift.UnderPointer(c.path, c.prefix); got != c.want {
			t.Errorf("UnderPointer(%q, %q) = %v, want %v", c.path, c.prefix, got, c.want)
		}
	}
}

func TestCanonicalIgnoresKeyOrderAndSpaceButKeepsNumbers(t *testing.T) {
	t.Parallel()
	a, err := drift.Canonical([]byte(`{ "b": 1.50, "a": [ 1e3, {"y":true,"x":null} ] }`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[1e3,{"x":null,"y":true}],"b":1.50}`; string(a) != want {
		t.Fatalf("canonical %s, want %s", a, want)
	}
	h1, _ := drift.Hash([]byte(`{"a":1,"b":2}`))
	h2, _ := drift.Hash([]byte(`{"b":2, "a":1}`))
	h3, _ := drift.Hash([]byte(`{"b":2, "a":2}`))
	if h1 != h2 || h1 == h3 {
		t.Fatalf("hashes %s %s %s", h1, h2, h3)
	}
	if _, err := drift.Canonical([]byte(`{"a":1} {}`)); err == nil {
		t.Fatal("trailing data accepted")
	}
}

func TestPolicyValidateNamesEveryBadField(t *testing.T) {
	t.Parallel()
	p := drift.Policy{Severity: "urgent", Category: "x", ActionType: "explode", DriftThreshold: -1,
		MonitoredFields: []string{"ok", "/bad~2"}, Ignore: []string{"nope"}}
	err := p.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, f := range []string{"id:", "ci_type:", "severity:", "category:", "action_type:", "drift_threshold:", "monitored_fields[1]:", "ignore[0]:"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	d := drift.DefaultPolicy()
	d.CIType = "vm"
	if err := d.Validate(); err != nil {
		t.Fatalf("default policy invalid: %v", err)
	}
}

func TestGoverningFollowsTheCataloguesRule(t *testing.T) {
	t.Parallel()
	ps := []drift.Policy{
		{ID: "vm-b", CIType: "vm"}, {ID: "vm-a", CIType: "vm"},
		{ID: "vm-web", CIType: "vm", CIIDs: []string{"web-*"}},
		{ID: "tpl", CIType: "vm", TemplateID: "base"},
		{ID: "tpl-canary", TemplateID: "base", CIIDs: []string{"web-0?"}},
	}
	for _, c := range []struct{ ci, ciType, template, want string }{
		{"db-1", "vm", "", "vm-a"},
		{"web-1", "vm", "", "vm-web"},
		{"web-01", "vm", "base", "tpl-canary"},
		{"web-100", "vm", "base", "tpl"},
		{"web-1", "vm", "other", "vm-web"},
		{"x", "container", "", ""},
	} {
		got, ok := drift.Governing(ps, c.ci, c.ciType, c.template)
		if got.ID != c.want || ok != (c.want != "") {
			t.Errorf("Governing(%s, %s, %q) = %q, %v; want %q", c.ci, c.ciType, c.template, got.ID, ok, c.want)
		}
	}
}
