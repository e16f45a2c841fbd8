// Package template adapts driftwatch's own template catalogue to enrich.DesiredSource.
package template

import (
	"context"
	"errors"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Catalog finds the template for a CI: by id when templateID is set, else by resource type.
type Catalog interface {
	TemplateFor(ctx context.Context, ciType, templateID string) (drift.Template, bool, error)
}

// Waiter tells when the catalogue has applied the event store up to a position;
// *projections.Runner implements it.
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// Source serves desired state from templates. It is safe for concurrent use if the catalogue
// is.
type Source struct {
	catalog Catalog
	waiter  Waiter
}

// New returns a Source over catalog and the waiter of the runner that builds it; both are
// required.
func New(catalog Catalog, waiter Waiter) (*Source, error) {
	var errs []error
	if catalog == nil {
		errs = append(errs, errors.New("catalog: required"))
	}
	if waiter == nil {
		errs = append(errs, errors.New("waiter: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("new template source"), err)
	}
	return &Source{catalog: catalog, waiter: waiter}, nil
}

// Name implements enrich.DesiredSource.
func (s *Source) Name() string { return "template" }

// Desired implements enrich.DesiredSource: once the catalogue has reached q.Position, the
// template it holds for the CI.
func (s *Source) Desired(ctx context.Context, q enrich.Query) (drift.Desired, bool, error) {
	if err := s.waiter.WaitFor(ctx, q.Position); err != nil {
		return drift.Desired{}, false, err
	}
	t, ok, err := s.catalog.TemplateFor(ctx, q.CIType, q.TemplateID)
	if err != nil || !ok {
		return drift.Desired{}, false, err
	}
	def, err := drift.Canonical(t.Definition)
	if err != nil {
		return drift.Desired{}, false, err
	}
	return drift.Desired{Source: "template", TemplateID: t.ID, Version: t.Version, Definition: def, BaselineHash: t.BaselineHash}, true, nil
}
