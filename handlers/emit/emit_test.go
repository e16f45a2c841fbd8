package emit_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/emit"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
)

func openStore(t *testing.T) eventstore.Store {
	t.Helper()
	s, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// verdict builds a policy verdict for vm-1 that finds the given fields differing.
func verdict(id string, differing ...string) event.Message[event.PolicyEvaluated_v2] {
	v := event.PolicyEvaluated_v2{
		Observed: event.Observed{ObservationID: "obs-" + id, CIID: "vm-1", ObservedAt: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)},
		PolicyID: "default", Severity: drift.SeverityHigh,
		Category: drift.CategoryState, Checked: []string{""}, ThresholdMet: len(differing) > 0, Differs: differing,
	}
	for _, f := range differing {
		v.Drifts = append(v.Drifts, drift.FieldDrift{Field: f, Desired: json.RawMessage(`"on"`), Actual: json.RawMessage(`"off"`)})
	}
	return event.Message[event.PolicyEvaluated_v2]{ID: event.DeriveID("verdict", id), Subject: "vm-1", Fact: v}
}

func types(recs []event.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Fact.FactType()
	}
	return out
}

func TestHandle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	s, err := emit.New(emit.Config{}, emit.Deps{Store: store, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}

	first, err := s.Handle(ctx, verdict("1", "/power_state"))
	if err != nil || len(first) != 1 || first[0].Fact.FactType() != event.TypeDriftDetected {
		t.Fatalf("opens_a_drift_for_a_differing_field: %v %v", types(first), err)
	}
	again, err := s.Handle(ctx, verdict("2", "/power_state"))
	if err != nil || len(again) != 0 {
		t.Fatalf("never_opens_a_second_drift_on_the_same_field: %v %v", types(again), err)
	}
	redelivered, err := s.Handle(ctx, verdict("1", "/power_state"))
	if err != nil || len(redelivered) != 1 || redelivered[0].ID != first[0].ID {
		t.Fatalf("returns_the_same_facts_for_a_redelivered_verdict: %v %v", types(redelivered), err)
	}
	resolved, err := s.Handle(ctx, verdict("3"))
	if err != nil || len(resolved) != 1 || resolved[0].Fact.FactType() != event.TypeDriftResolved {
		t.Fatalf("resolves_a_field_that_matches_again: %v %v", types(resolved), err)
	}
	reopened, err := s.Handle(ctx, verdict("4", "/power_state"))
	if err != nil || len(reopened) != 1 || reopened[0].ID == first[0].ID {
		t.Fatalf("opens_a_new_drift_after_resolution: %v %v", types(reopened), err)
	}
	recs, err := store.ReadStream(ctx, ledger.Stream("vm-1"), 0, 100)
	if err != nil || len(recs) != 3 {
		t.Fatalf("ledger holds %d facts (%v), want detected, resolved, detected", len(recs), err)
	}
}

func TestHandleKeepsADriftOpenWhileItsFieldDiffersBelowThreshold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := emit.New(emit.Config{}, emit.Deps{Store: openStore(t), Now: time.Now})
	if _, err := s.Handle(ctx, verdict("1", "/a")); err != nil {
		t.Fatal(err)
	}
	below := verdict("2")
	below.Fact.Differs = []string{"/a"}
	out, err := s.Handle(ctx, below)
	if err != nil || len(out) != 0 {
		t.Fatalf("got %v %v, want nothing", types(out), err)
	}
}

func TestHandleLeavesFieldsOutsideTheCheckedScopeAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := emit.New(emit.Config{}, emit.Deps{Store: openStore(t), Now: time.Now})
	if _, err := s.Handle(ctx, verdict("1", "/files")); err != nil {
		t.Fatal(err)
	}
	other := verdict("2")
	other.Fact.Checked = []string{"/power_state"}
	out, err := s.Handle(ctx, other)
	if err != nil || len(out) != 0 {
		t.Fatalf("got %v %v, want nothing", types(out), err)
	}
}

func TestHandleOpensOneDriftPerFieldUnderConcurrentVerdicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	s, _ := emit.New(emit.Config{}, emit.Deps{Store: store, Now: time.Now})
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				out, err := s.Handle(ctx, verdict(string(rune('a'+i)), "/power_state"))
				if errors.Is(err, eventstore.ErrWrongRevision) {
					continue // the router retries; so does this test
				}
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				opened += len(out)
				mu.Unlock()
				return
			}
		}()
	}
	wg.Wait()
	if opened != 1 {
		t.Fatalf("opened %d drifts, want 1", opened)
	}
}

func TestHandleResolvesTheUnmanagedFindingOnceTheCIHasADesiredState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := emit.New(emit.Config{}, emit.Deps{Store: openStore(t), Now: time.Now})
	unmanaged := verdict("1", drift.FieldWhole)
	if out, err := s.Handle(ctx, unmanaged); err != nil || len(out) != 1 {
		t.Fatalf("opens_the_unmanaged_finding: %v %v", types(out), err)
	}
	again := verdict("2", drift.FieldWhole)
	if out, err := s.Handle(ctx, again); err != nil || len(out) != 0 {
		t.Fatalf("keeps_it_open_while_unmanaged: %v %v", types(out), err)
	}
	managed := verdict("3", "/power_state")
	managed.Fact.Checked = []string{"/power_state", "/networks"}
	out, err := s.Handle(ctx, managed)
	if err != nil || len(out) != 2 {
		t.Fatalf("resolves_it_by_a_managed_verdict: %v %v", types(out), err)
	}
	for _, r := range out {
		if f, ok := r.Fact.(event.DriftResolved_v1); ok && (f.Field != drift.FieldWhole || f.Reason != "has a desired state") {
			t.Fatalf("resolution %+v", f)
		}
	}
}

func TestHandleIgnoresStaleVerdicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := emit.New(emit.Config{}, emit.Deps{Store: openStore(t), Now: time.Now})
	at := func(id string, minute int, differing ...string) event.Message[event.PolicyEvaluated_v2] {
		v := verdict(id, differing...)
		v.Fact.Observed.ObservedAt = time.Date(2026, 11, 21, 12, minute, 0, 0, time.UTC)
		return v
	}
	if out, err := s.Handle(ctx, at("t10-off", 10, "/power_state")); err != nil || len(out) != 1 {
		t.Fatalf("opens at 12:10: %v %v", types(out), err)
	}
	if out, err := s.Handle(ctx, at("t05-on", 5)); err != nil || len(out) != 0 {
		t.Fatalf("a verdict observed at 12:05 resolved a drift observed at 12:10: %v %v", types(out), err)
	}
	if out, err := s.Handle(ctx, at("t20-on", 20)); err != nil || len(out) != 1 || out[0].Fact.FactType() != event.TypeDriftResolved {
		t.Fatalf("resolves at 12:20: %v %v", types(out), err)
	}
	if out, err := s.Handle(ctx, at("t15-off", 15, "/power_state")); err != nil || len(out) != 0 {
		t.Fatalf("a verdict observed at 12:15 reopened a field seen matching at 12:20: %v %v", types(out), err)
	}
	if out, err := s.Handle(ctx, at("t25-off", 25, "/power_state")); err != nil || len(out) != 1 || out[0].Fact.FactType() != event.TypeDriftDetected {
		t.Fatalf("reopens at 12:25: %v %v", types(out), err)
	}
}

func TestHandleRecordsANewActualValueOfAnOpenDriftOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := emit.New(emit.Config{}, emit.Deps{Store: openStore(t), Now: time.Now})
	first, err := s.Handle(ctx, verdict("1", "/power_state"))
	if err != nil {
		t.Fatal(err)
	}
	changed := verdict("2", "/power_state")
	changed.Fact.Drifts[0].Actual = json.RawMessage(`"paused"`)
	out, err := s.Handle(ctx, changed)
	if err != nil || len(out) != 1 {
		t.Fatalf("got %v %v, want one update", types(out), err)
	}
	u, ok := out[0].Fact.(event.DriftUpdated_v1)
	if !ok || u.DriftID != first[0].Fact.(event.DriftDetected_v1).DriftID || string(u.Actual) != `"paused"` || out[0].Position == 0 {
		t.Fatalf("update %+v", out[0])
	}
	same := verdict("3", "/power_state")
	same.Fact.Drifts[0].Actual = json.RawMessage(`"paused"`)
	if out, err := s.Handle(ctx, same); err != nil || len(out) != 0 {
		t.Fatalf("the same actual value again gave %v %v", types(out), err)
	}
}
