// Package template adapts driftwatch's own template catalogue to enrich.DesiredSource.
package template

import (
	"context"
	"errors"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Catalog finds the template for a CI: by id when templateID is set, else by resource type.
type Catalog interface {
	TemplateFor(ctx context.Context, ciType, templateID string) (drift.Template, bool, error)
}

// Source serves desired state from templates. It is safe for concurrent use if the catalogue
// is.
type Source struct{ catalog Catalog }

// New returns a Source over catalog (required).
func New(catalog Catalog) (*Source, error) {
	if catalog == nil {
		return nil, errors.New("new template source: catalog: required")
	}
	return &Source{catalog: catalog}, nil
}

// Name implements enrich.DesiredSource.
func (s *Source) Name() string { return "template" }

// Desired implements enrich.DesiredSource.
func (s *Source) Desired(ctx context.Context, q enrich.Query) (drift.Desired, bool, error) {
	t, ok, err := s.catalog.TemplateFor(ctx, q.CIType, q.TemplateID)
	if err != nil || !ok {
		return drift.Desired{}, false, err
	}
	return drift.Desired{Source: "template", TemplateID: t.ID, Definition: t.Definition, BaselineHash: t.BaselineHash}, true, nil
}
