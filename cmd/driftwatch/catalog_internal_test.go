package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/catalog"
)

func TestFreshCatalogFindsATemplateTheReadModelHasNotSeenYet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "events")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cat := catalog.New()
	runner, err := projections.New(projections.Config{Path: filepath.Join(dir, "catalog.db")},
		projections.Deps{Store: store, Logger: zap.NewNop()}, cat)
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	fresh := freshCatalog{cat, runner}
	if _, ok, err := fresh.TemplateFor(ctx, "vm", ""); ok || err != nil {
		t.Fatalf("found a template in an empty store: %v %v", ok, err)
	}

	// The runner is not running: only the catch-up on a miss can see this template.
	tpl := drift.Template{ID: "web", ResourceType: "vm", Definition: json.RawMessage(`{"a":1}`), BaselineHash: "sha256:x"}
	rec := event.Record{ID: event.DeriveID("t"), Subject: "web", Time: time.Now(), Fact: event.TemplateChanged_v1{Template: tpl, ChangedAt: time.Now()}}
	ev, stream, err := rec.StoreEvent()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, stream, eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cat.TemplateFor(ctx, "vm", ""); ok {
		t.Fatal("the read model saw the template without catching up: the test proves nothing")
	}
	got, ok, err := fresh.TemplateFor(ctx, "vm", "")
	if err != nil || !ok || got.ID != "web" {
		t.Fatalf("TemplateFor after catch-up: %+v %v %v", got, ok, err)
	}
}
