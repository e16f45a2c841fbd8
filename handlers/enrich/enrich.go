// Package enrich is the desired-state stage: it pairs each observation with the desired state
// of its CI, from whichever DesiredSource is configured (templates now, NetBox later).
package enrich

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// Query names the CI whose desired state is asked for, with what its observation says of it.
type Query struct {
	CIID   string
	CIType string
	// TemplateID is the template the observation names, if any.
	TemplateID string
}

// DesiredSource resolves the desired state of a CI. found is false when the source knows
// nothing of the CI; err is for failures (retryable unless marked fault.Permanent). Every
// adapter passes the contract suite in internal/testsupport/desiredtest. Safe for concurrent
// use.
type DesiredSource interface {
	// Name names the source in drifts and in the precedence rule ("netbox", "git",
	// "template"); it is the Desired.Source of what it returns.
	Name() string
	// Desired returns the CI's desired state: a JSON object in canonical form with its
	// baseline hash.
	Desired(ctx context.Context, q Query) (d drift.Desired, found bool, err error)
}

// Enrich consumes ObservationReceived_v1 and emits DesiredStateResolved_v1, with Managed false
// when no desired state is known. It is idempotent (the output id derives from the input id)
// and safe for concurrent use if its source is.
type Enrich struct {
	source DesiredSource
	now    func() time.Time
}

// New returns the enrich stage over source; both arguments are required.
func New(source DesiredSource, now func() time.Time) (*Enrich, error) {
	var errs []error
	if source == nil {
		errs = append(errs, errors.New("desired source: required"))
	}
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new enrich: %w", err)
	}
	return &Enrich{source: source, now: now}, nil
}

// Handle implements router.Stage.
func (s *Enrich) Handle(ctx context.Context, in event.Message[event.ObservationReceived_v1]) ([]event.Record, error) {
	o := in.Fact
	d, found, err := s.source.Desired(ctx, Query{CIID: o.CIID, CIType: o.CIType, TemplateID: o.TemplateID})
	if err != nil {
		return nil, fmt.Errorf("resolve desired state for %s: %w", o.CIID, err)
	}
	out := event.DesiredStateResolved_v1{Observation: o, Managed: found}
	if found {
		out.DesiredSource, out.TemplateID = d.Source, d.TemplateID
		out.Desired, out.BaselineHash = d.Definition, d.BaselineHash
	}
	return []event.Record{{
		ID:      event.DeriveID("desired-state-resolved", in.ID),
		Subject: o.CIID,
		Time:    s.now(),
		Fact:    out,
	}}, nil
}
