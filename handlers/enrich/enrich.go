// Package enrich is the desired-state stage: it pairs each changed observation, and each
// request to evaluate a CI again, with the desired state of its CI from whichever
// DesiredSource is configured, and records each distinct desired definition once, by hash.
//
// Cost per message: one lookup in the desired-state source (templates: memory, once the
// catalogue has reached the message's store position), and an append of the definition only
// the first time this process sees it; the states themselves are not read.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/states"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Consumer groups and topics of the stage: observations, and requests to evaluate again.
const (
	Name          = "enrich"
	Topic         = topic.ObservationReceivedV2
	RequestsName  = "enrich-requests"
	RequestsTopic = topic.EvaluationRequested
)

// Query names the CI whose desired state is asked for, with what its observation says of it.
type Query struct {
	CIID   string
	CIType string
	// TemplateID is the template the observation names, if any.
	TemplateID string
	// Position is the store position of the fact being evaluated: a source built from the
	// event store answers as of at least that position, so that a change recorded before the
	// fact is never missed.
	Position eventstore.Position
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

// Deps are what the stage works with; all are required but Now (default time.Now).
type Deps struct {
	Source DesiredSource
	States *states.Store
	Now    func() time.Time
}

// Enrich consumes ObservationReceived_v2 and emits DesiredStateResolved_v2, with Managed
// false when no desired state is known. It is idempotent (the output id derives from the
// input id) and safe for concurrent use if its source is.
type Enrich struct {
	deps Deps
}

// New returns the enrich stage; it refuses missing deps.
func New(deps Deps) (*Enrich, error) {
	var errs []error
	if deps.Source == nil {
		errs = append(errs, errors.New("desired source: required"))
	}
	if deps.States == nil {
		errs = append(errs, errors.New("states: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new enrich: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Enrich{deps: deps}, nil
}

// Handle implements router.Stage for observations.
func (s *Enrich) Handle(ctx context.Context, in event.Message[event.ObservationReceived_v2]) ([]event.Record, error) {
	return s.resolve(ctx, in.Fact.Observed, in.ID, in.Position)
}

// Requests is the stage for requests to evaluate a CI again (EvaluationRequested_v1): the
// same resolution as for an observation.
type Requests struct{ *Enrich }

// Handle implements router.Stage for evaluation requests.
func (r Requests) Handle(ctx context.Context, in event.Message[event.EvaluationRequested_v1]) ([]event.Record, error) {
	return r.resolve(ctx, in.Fact.Observed, in.ID, in.Position)
}

func (s *Enrich) resolve(ctx context.Context, o event.Observed, inID string, pos eventstore.Position) ([]event.Record, error) {
	d, found, err := s.deps.Source.Desired(ctx, Query{CIID: o.CIID, CIType: o.CIType, TemplateID: o.TemplateID, Position: pos})
	if err != nil {
		return nil, fmt.Errorf("resolve desired state for %s: %w", o.CIID, err)
	}
	now := s.deps.Now()
	out := event.DesiredStateResolved_v2{Observed: o, Managed: found}
	var recs []event.Record
	if found {
		out.Desired = event.RefOf(d)
		st, ok, err := s.deps.States.Record(ctx, d.BaselineHash, d.Definition, now)
		if err != nil {
			return nil, err
		}
		if ok {
			recs = append(recs, st)
		}
	} else {
		out.Unmanaged = fmt.Sprintf("no desired state: no template for ci_type %q", o.CIType)
		if o.TemplateID != "" {
			out.Unmanaged = fmt.Sprintf("no desired state: template %q does not exist", o.TemplateID)
		}
	}
	recs = append(recs, event.Record{ID: event.DeriveID("desired-state-resolved", inID), Subject: o.CIID, Time: now, Fact: out})
	return recs, nil
}
