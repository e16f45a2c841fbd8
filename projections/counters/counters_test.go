package counters_test

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/counters"
)

func TestEachFactCountsOnceByKindAndOutcome(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := counters.New()
	if err := m.Open(db); err != nil {
		t.Fatal(err)
	}
	facts := []event.Record{
		{ID: event.DeriveID("a1"), Fact: event.ActionSucceeded_v1{ActionID: "a1", Kind: drift.ActionKindQuarantine}},
		{ID: event.DeriveID("a1"), Fact: event.ActionSucceeded_v1{ActionID: "a1", Kind: drift.ActionKindQuarantine}}, // redelivered
		{ID: event.DeriveID("a2"), Fact: event.ActionFailed_v1{ActionID: "a2", Kind: drift.ActionKindQuarantine, Reason: "x"}},
		{ID: event.DeriveID("p1"), Fact: event.Poison_v1{Handler: "diff", Reason: "bad"}},
		{ID: event.DeriveID("o1"), Fact: event.TokenRevoked_v1{TokenID: "x"}}, // not counted
	}
	for i, r := range facts {
		env, err := r.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		if !m.Consumes(env.Type) {
			continue
		}
		if err := db.Update(func(tx *bolt.Tx) error { return m.Apply(tx, projections.Event{Envelope: env}) }); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	got, err := m.Totals()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"quarantine succeeded": 1, "quarantine failed": 1}
	if len(got.Actions) != len(want) {
		t.Fatalf("actions %+v", got.Actions)
	}
	for _, a := range got.Actions {
		if want[a.Kind+" "+a.Outcome] != a.N {
			t.Errorf("%s %s: %d, want %d", a.Kind, a.Outcome, a.N, want[a.Kind+" "+a.Outcome])
		}
	}
	if got.Poison["diff"] != 1 || len(got.Poison) != 1 {
		t.Errorf("poison %v", got.Poison)
	}
}
