package command_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// at is the tests' clock.
var at = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// openStore opens the embedded event store in a fresh directory.
func openStore(t *testing.T) eventstore.Store {
	t.Helper()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(t.TempDir(), "events")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func template(id, resourceType string, priority int) drift.Template {
	return drift.Template{ID: id, ResourceType: resourceType, Priority: priority, Definition: json.RawMessage(`{"power_state":"on"}`)}
}

func TestTemplates(t *testing.T) {
	t.Parallel()

	t.Run("refuses_a_second_template_for_the_same_cis_naming_the_first", func(t *testing.T) {
		t.Parallel()
		cmds := command.Templates{Store: openStore(t), Now: clock}
		web, _, err := cmds.Create(t.Context(), template("web", "vm", 0))
		if err != nil || web.Version != 1 || web.BaselineHash == "" || !web.CreatedAt.Equal(at) {
			t.Fatalf("create: %+v, %v", web, err)
		}
		_, _, err = cmds.Create(t.Context(), template("web-2", "vm", 0))
		if !errors.Is(err, fault.ErrConflict) || !strings.Contains(err.Error(), `"web"`) {
			t.Fatalf("a second vm template at the same priority: %v", err)
		}
		if _, _, _, err := cmds.Put(t.Context(), template("web-2", "vm", 0)); !errors.Is(err, fault.ErrConflict) {
			t.Fatalf("the same by PUT: %v", err)
		}
		if _, _, err := cmds.Create(t.Context(), template("web-2", "container", 0)); err != nil {
			t.Fatalf("another resource_type is no conflict: %v", err)
		}
		// Moving it onto vm needs its own priority: the highest governs.
		if _, _, _, err := cmds.Put(t.Context(), template("web-2", "vm", 0)); !errors.Is(err, fault.ErrConflict) {
			t.Fatalf("moving onto the vm slot of web: %v", err)
		}
		moved, created, _, err := cmds.Put(t.Context(), template("web-2", "vm", 10))
		if err != nil || created || moved.Version != 2 {
			t.Fatalf("with priority 10: %+v created=%v, %v", moved, created, err)
		}
		if _, _, _, err := cmds.Put(t.Context(), template("web", "vm", 0)); err != nil {
			t.Fatalf("replacing a template keeps its own rank: %v", err)
		}
		// Deleted, a template frees its rank.
		if _, err := cmds.Delete(t.Context(), "web"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cmds.Create(t.Context(), template("web-3", "vm", 0)); err != nil {
			t.Fatalf("the freed rank: %v", err)
		}
		again, created, _, err := cmds.Put(t.Context(), template("web", "vm", -5))
		if err != nil || !created || again.Version != 4 {
			t.Fatalf("a deleted id comes back with its next version: %+v created=%v, %v", again, created, err)
		}
	})

	t.Run("lets_one_of_concurrent_claims_of_a_rank_win", func(t *testing.T) {
		t.Parallel()
		cmds := command.Templates{Store: openStore(t), Now: clock}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = cmds.Create(t.Context(), template(fmt.Sprintf("t%d", i), "node", 1))
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, fault.ErrConflict):
				t.Fatalf("a claim failed otherwise: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d templates hold node at priority 1; want 1", won)
		}
	})

	t.Run("ranks_templates_recorded_before_precedence_existed", func(t *testing.T) {
		t.Parallel()
		store := openStore(t)
		old := event.Record{ID: event.DeriveID("legacy"), Subject: "old", Time: at,
			Fact: event.TemplateChanged_v1{Template: template("old", "vm", 0), ChangedAt: at}}
		ev, stream, err := old.StoreEvent()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(t.Context(), stream, eventstore.NoStream, ev); err != nil {
			t.Fatal(err)
		}
		cmds := command.Templates{Store: store, Now: clock}
		if _, _, err := cmds.Create(t.Context(), template("new", "vm", 0)); !errors.Is(err, fault.ErrConflict) || !strings.Contains(err.Error(), `"old"`) {
			t.Fatalf("a template beside a legacy one: %v", err)
		}
		replaced, _, _, err := cmds.Put(t.Context(), template("old", "vm", 0))
		if err != nil || replaced.Version != 2 {
			t.Fatalf("replacing the legacy template: %+v, %v", replaced, err)
		}
	})

	t.Run("names_each_bad_field_and_an_unknown_id", func(t *testing.T) {
		t.Parallel()
		cmds := command.Templates{Store: openStore(t), Now: clock}
		_, _, err := cmds.Create(t.Context(), drift.Template{ID: "t", Definition: json.RawMessage(`[1]`)})
		inv, ok := fault.AsInvalid(err)
		if !ok || !strings.Contains(inv.Err.Error(), "resource_type:") || !strings.Contains(inv.Err.Error(), "template_definition:") {
			t.Fatalf("invalid template: %v", err)
		}
		if _, err := cmds.Delete(t.Context(), "nope"); !errors.Is(err, fault.ErrNotFound) {
			t.Fatalf("delete unknown: %v", err)
		}
		if _, _, err := cmds.Create(t.Context(), template("t", "vm", 0)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cmds.Create(t.Context(), template("t", "container", 0)); !errors.Is(err, fault.ErrConflict) {
			t.Fatalf("create an existing id: %v", err)
		}
	})
}
