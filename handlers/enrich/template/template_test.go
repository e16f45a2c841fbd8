package template_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/template"
	"github.com/driftwatch/driftwatch/internal/testsupport/desiredtest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/catalog"
)

// catalogFixture is the contract suite's fixture for the API's templates: changes recorded
// in a real embedded store, the catalogue following it.
type catalogFixture struct {
	store  eventstore.Store
	runner *projections.Runner
	source *template.Source
	n      int
}

func (f *catalogFixture) Source() enrich.DesiredSource { return f.source }
func (f *catalogFixture) Exact() bool                  { return true }

func (f *catalogFixture) Set(t *testing.T, _, ciType string, def map[string]any) {
	raw, _ := json.Marshal(def)
	c, err := drift.Canonical(raw)
	if err != nil {
		t.Fatal(err)
	}
	f.record(t, event.TemplateChanged_v1{Template: drift.Template{ID: ciType, ResourceType: ciType, Definition: c, BaselineHash: drift.HashCanonical(c)}, ChangedAt: time.Now()})
}

func (f *catalogFixture) Remove(t *testing.T, _, ciType string) {
	f.record(t, event.TemplateChanged_v1{Template: drift.Template{ID: ciType, ResourceType: ciType}, Deleted: true, ChangedAt: time.Now()})
}

func (f *catalogFixture) record(t *testing.T, fact event.TemplateChanged_v1) {
	t.Helper()
	f.n++
	ev, stream, err := event.Record{ID: event.DeriveID("contract", t.Name(), fmt.Sprint(f.n)), Subject: fact.Template.ID, Fact: fact}.StoreEvent()
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.store.Append(context.Background(), stream, eventstore.Any, ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.runner.WaitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
}

func TestTemplatesPassTheDesiredStateContract(t *testing.T) {
	t.Parallel()
	desiredtest.Run(t, func(t *testing.T) desiredtest.Fixture {
		store, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		cat := catalog.New()
		r, err := projections.New(projections.Config{Path: filepath.Join(t.TempDir(), "p.db")}, projections.Deps{Store: store, Logger: zap.NewNop()}, cat)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; _ = r.Close(); _ = store.Close() })
		src, err := template.New(cat, r)
		if err != nil {
			t.Fatal(err)
		}
		return &catalogFixture{store: store, runner: r, source: src}
	})
}
