package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

// env is a catalog fed by a runner over an in-memory store.
type env struct {
	t       *testing.T
	store   *memstore.Store
	path    string
	runner  *projections.Runner
	catalog *catalog.Catalog
	stop    func()
	n       int
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, store: memstore.New(), path: filepath.Join(t.TempDir(), "p.db")}
	e.start()
	t.Cleanup(func() { e.stop() })
	return e
}

// start opens a runner with a fresh catalog on the env's file and runs it.
func (e *env) start() {
	e.t.Helper()
	e.catalog = catalog.New()
	r, err := projections.New(projections.Config{Path: e.path}, projections.Deps{Store: e.store, Logger: zap.NewNop()}, e.catalog)
	if err != nil {
		e.t.Fatalf("new runner: %v", err)
	}
	e.runner = r
	ctx, cancel := context.WithCancel(e.t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("run: %v", err)
			}
			_ = r.Close()
		})
	}
}

// record appends facts and waits until the catalog applied them.
func (e *env) record(facts ...event.Fact) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	var pos eventstore.Position
	for _, f := range facts {
		e.n++
		var subject string
		switch f := f.(type) {
		case event.TemplateChanged_v1:
			subject = f.Template.ID
		case event.PolicyChanged_v1:
			subject = f.Policy.ID
		}
		rec := event.Record{ID: event.DeriveID("catalog-test", fmt.Sprint(e.n)), Subject: subject, Fact: f}
		ev, stream, err := rec.StoreEvent()
		if err != nil {
			e.t.Fatalf("store event: %v", err)
		}
		res, err := e.store.Append(ctx, stream, eventstore.Any, ev)
		if err != nil {
			e.t.Fatalf("append: %v", err)
		}
		pos = res.Position
	}
	if err := e.runner.WaitFor(ctx, pos); err != nil {
		e.t.Fatalf("wait: %v", err)
	}
}

func tmpl(id, typ string) event.TemplateChanged_v1 {
	return event.TemplateChanged_v1{Template: drift.Template{ID: id, ResourceType: typ, Definition: json.RawMessage(`{"id":"` + id + `"}`)}}
}

func deleteTmpl(id string) event.TemplateChanged_v1 {
	return event.TemplateChanged_v1{Template: drift.Template{ID: id}, Deleted: true}
}

func pol(id, ciType, templateID string) event.PolicyChanged_v1 {
	return event.PolicyChanged_v1{Policy: drift.Policy{ID: id, CIType: ciType, TemplateID: templateID}}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("stores_changes_and_removes_deleted_entries", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(tmpl("b", "vm"), tmpl("a", "vm"), pol("p", "vm", ""), deleteTmpl("b"),
			event.PolicyChanged_v1{Policy: drift.Policy{ID: "p"}, Deleted: true}, pol("q", "vm", ""))
		if ts := e.catalog.Templates(); len(ts) != 1 || ts[0].ID != "a" {
			t.Fatalf("templates: %+v", ts)
		}
		if _, ok := e.catalog.Policy("p"); ok {
			t.Fatalf("deleted policy p is still there")
		}
		q, ok := e.catalog.Policy("q")
		if !ok || q.Severity != drift.SeverityMedium || q.DriftThreshold != 1 {
			t.Fatalf("policy q with defaults: %+v, %v", q, ok)
		}
	})

	t.Run("template_for_takes_the_named_template_or_the_smallest_id_of_the_type", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(tmpl("web-2", "vm"), tmpl("web-1", "vm"), tmpl("db", "container"))
		cases := []struct{ ciType, templateID, want string }{
			{"vm", "", "web-1"},
			{"vm", "db", "db"},
			{"container", "", "db"},
			{"vm", "missing", ""},
			{"switch", "", ""},
			{"", "", ""},
		}
		for _, c := range cases {
			got, ok, err := e.catalog.TemplateFor(ctx, c.ciType, c.templateID)
			if err != nil || ok != (c.want != "") || got.ID != c.want {
				t.Fatalf("template for (%q, %q): got %q %v %v, want %q", c.ciType, c.templateID, got.ID, ok, err, c.want)
			}
		}
		e.record(deleteTmpl("web-1"))
		if got, _, _ := e.catalog.TemplateFor(ctx, "vm", ""); got.ID != "web-2" {
			t.Fatalf("after deleting web-1: got %q, want web-2", got.ID)
		}
	})

	t.Run("template_for_takes_the_highest_priority_of_the_type", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		canary := tmpl("web-canary", "vm")
		canary.Template.Priority = 10
		low := tmpl("a-fallback", "vm")
		low.Template.Priority = -1
		e.record(tmpl("web", "vm"), canary, low)
		if got, _, _ := e.catalog.TemplateFor(ctx, "vm", ""); got.ID != "web-canary" {
			t.Fatalf("got %q, want web-canary (priority 10)", got.ID)
		}
		e.record(deleteTmpl("web-canary"))
		if got, _, _ := e.catalog.TemplateFor(ctx, "vm", ""); got.ID != "web" {
			t.Fatalf("after deleting web-canary: got %q, want web (priority 0 over -1)", got.ID)
		}
	})

	t.Run("policy_for_prefers_the_template_then_the_ci_type_then_the_default", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(pol("vm-b", "vm", ""), pol("vm-a", "vm", ""), pol("web-z", "", "web"), pol("web-y", "vm", "web"), pol("other", "vm", "other"))
		cases := []struct{ ciType, templateID, want string }{
			{"vm", "web", "web-y"},
			{"vm", "", "vm-a"},
			{"vm", "db", "vm-a"},
			{"container", "", "default"},
			{"container", "web", "web-y"},
		}
		for _, c := range cases {
			got, err := e.catalog.PolicyFor(ctx, c.ciType, c.templateID)
			if err != nil || got.ID != c.want {
				t.Fatalf("policy for (%q, %q): got %q %v, want %q", c.ciType, c.templateID, got.ID, err, c.want)
			}
		}
		e.record(pol("web-y", "vm", ""))
		if got, _ := e.catalog.PolicyFor(ctx, "vm", "web"); got.ID != "web-z" {
			t.Fatalf("after unbinding web-y: got %q, want web-z", got.ID)
		}
		if got, _ := e.catalog.PolicyFor(ctx, "vm", ""); got.ID != "vm-a" {
			t.Fatalf("vm-a still wins ties: got %q", got.ID)
		}
	})

	t.Run("loads_its_index_from_the_file_when_opened_again", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.record(tmpl("t", "vm"), pol("p", "vm", ""))
		e.stop()
		e.start()
		if _, ok, _ := e.catalog.TemplateFor(ctx, "vm", ""); !ok {
			t.Fatalf("template t lost across a restart")
		}
		if p, _ := e.catalog.PolicyFor(ctx, "vm", ""); p.ID != "p" {
			t.Fatalf("policy p lost across a restart: got %q", p.ID)
		}
	})

	t.Run("answers_lookups_while_changes_apply", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		var wg sync.WaitGroup
		done := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					_, _, _ = e.catalog.TemplateFor(ctx, "vm", "")
					_, _ = e.catalog.PolicyFor(ctx, "vm", "t")
					_ = e.catalog.Policies()
				}
			})
		}
		for i := range 20 {
			e.record(tmpl(fmt.Sprint("t", i), "vm"), pol(fmt.Sprint("p", i), "vm", "t"))
		}
		close(done)
		wg.Wait()
		if got, _ := e.catalog.PolicyFor(ctx, "vm", "t"); got.ID != "p0" {
			t.Fatalf("policy for template t: got %q, want p0", got.ID)
		}
	})
}
