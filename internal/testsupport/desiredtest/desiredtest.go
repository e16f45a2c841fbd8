// Package desiredtest is the contract suite every desired-state source (enrich.DesiredSource:
// NetBox, the templates directory, the API's templates) passes: what it returns for a CI it
// has, one it does not have, and after a change or a removal.
package desiredtest

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Fixture is one source under test and the means to change what it holds. Set and Remove
// return once the source answers with the change (caches invalidated, files reloaded, the
// catalogue caught up).
type Fixture interface {
	Source() enrich.DesiredSource
	// Set makes def the desired state of the CI ci of type ciType.
	Set(t *testing.T, ci, ciType string, def map[string]any)
	// Remove takes away the desired state Set gave ci.
	Remove(t *testing.T, ci, ciType string)
	// Exact says whether the source returns def exactly; a source that adds members of its
	// own (NetBox's status, site, role) returns def's members among others.
	Exact() bool
}

// Run runs the contract against fixtures made by newFixture, one per subtest.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	ctx := context.Background()
	def := map[string]any{"power_state": "on", "cpu_count": 2.0, "tags": []any{"b", "a"}, "nested": map[string]any{"z": 1.0, "a": true}}

	t.Run("a_ci_without_desired_state_is_not_found_and_is_no_error", func(t *testing.T) {
		f := newFixture(t)
		d, found, err := f.Source().Desired(ctx, enrich.Query{CIID: "nobody-01", CIType: "contract-none"})
		if err != nil || found {
			t.Fatalf("found %v, err %v (%+v): want not found, no error", found, err, d)
		}
	})
	t.Run("returns_the_desired_state_canonical_with_its_baseline_hash_and_source", func(t *testing.T) {
		f := newFixture(t)
		f.Set(t, "contract-01", "contract", def)
		d, found, err := f.Source().Desired(ctx, enrich.Query{CIID: "contract-01", CIType: "contract"})
		if err != nil || !found {
			t.Fatalf("found %v, err %v", found, err)
		}
		check(t, f, d, def)
	})
	t.Run("a_change_is_answered_with_its_new_hash", func(t *testing.T) {
		f := newFixture(t)
		f.Set(t, "contract-01", "contract", def)
		before, _, _ := f.Source().Desired(ctx, enrich.Query{CIID: "contract-01", CIType: "contract"})
		changed := map[string]any{"power_state": "off", "cpu_count": 4.0}
		f.Set(t, "contract-01", "contract", changed)
		after, found, err := f.Source().Desired(ctx, enrich.Query{CIID: "contract-01", CIType: "contract"})
		if err != nil || !found {
			t.Fatalf("after the change: found %v, err %v", found, err)
		}
		check(t, f, after, changed)
		if after.BaselineHash == before.BaselineHash {
			t.Fatal("the baseline hash did not change with the desired state")
		}
	})
	t.Run("a_removal_is_answered_as_not_found", func(t *testing.T) {
		f := newFixture(t)
		f.Set(t, "contract-01", "contract", def)
		f.Remove(t, "contract-01", "contract")
		if _, found, err := f.Source().Desired(ctx, enrich.Query{CIID: "contract-01", CIType: "contract"}); err != nil || found {
			t.Fatalf("after the removal: found %v, err %v", found, err)
		}
	})
	t.Run("answers_concurrent_lookups_alike", func(t *testing.T) {
		f := newFixture(t)
		f.Set(t, "contract-01", "contract", def)
		var wg sync.WaitGroup
		hashes := make([]string, 16)
		for i := range hashes {
			wg.Go(func() {
				d, _, err := f.Source().Desired(ctx, enrich.Query{CIID: "contract-01", CIType: "contract"})
				if err != nil {
					t.Error(err)
				}
				hashes[i] = d.BaselineHash
			})
		}
		wg.Wait()
		for _, h := range hashes[1:] {
			if h != hashes[0] {
				t.Fatalf("concurrent lookups answered different hashes: %v", hashes)
			}
		}
	})
}

// check asserts what every source promises of a found desired state.
func check(t *testing.T, f Fixture, d drift.Desired, def map[string]any) {
	t.Helper()
	if d.Source == "" || d.Source != firstName(f.Source().Name()) {
		t.Errorf("source %q, want the source's name %q", d.Source, f.Source().Name())
	}
	canonical, err := drift.Canonical(d.Definition)
	if err != nil || string(canonical) != string(d.Definition) {
		t.Errorf("definition %s is not in canonical form (%v)", d.Definition, err)
	}
	if d.BaselineHash != drift.HashCanonical(d.Definition) {
		t.Errorf("baseline hash %s is not the hash of the definition", d.BaselineHash)
	}
	var got map[string]any
	if err := json.Unmarshal(d.Definition, &got); err != nil {
		t.Fatalf("definition %s: %v", d.Definition, err)
	}
	if f.Exact() {
		if !reflect.DeepEqual(got, def) {
			t.Errorf("definition %s, want %v", d.Definition, def)
		}
		return
	}
	for k, v := range def {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("definition %s: %s is %v, want %v", d.Definition, k, got[k], v)
		}
	}
}

// firstName is a source's own name ("netbox" of "netbox>template").
func firstName(name string) string {
	for i, c := range name {
		if c == '>' {
			return name[:i]
		}
	}
	return name
}
