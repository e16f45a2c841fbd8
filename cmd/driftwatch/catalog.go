package main

import (
	"context"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/catalog"
)

// freshCatalog serves the stages from a catalogue read model. When a template lookup finds
// nothing it catches the model up with the event store and looks again, so that a template
// created just before an observation arrives is never missed, in whichever process the
// stage runs. Policies are read as the model has them: a policy change reaches every worker
// within the model's lag.
type freshCatalog struct {
	*catalog.Catalog
	runner *projections.Runner
}

// TemplateFor implements template.Catalog.
func (c freshCatalog) TemplateFor(ctx context.Context, ciType, templateID string) (drift.Template, bool, error) {
	t, ok, err := c.Catalog.TemplateFor(ctx, ciType, templateID)
	if ok || err != nil {
		return t, ok, err
	}
	if err := c.runner.CatchUp(ctx); err != nil {
		return drift.Template{}, false, err
	}
	return c.Catalog.TemplateFor(ctx, ciType, templateID)
}
