// Package ingest is the first stage: it validates and normalises raw observations.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Ingest consumes ObservationSubmitted_v1 and emits ObservationReceived_v1: the CI id trimmed,
// the type lower-cased, the state in canonical JSON with its SHA-256 state hash, the
// observation time defaulted to the submission time. Invalid observations fail permanently
// with every bad field named, and go to the poison stream.
//
// It is idempotent and deduplicates: the output id derives from the CI and the source's
// observation id (or, without one, from the observation time and state hash), so the same
// observation submitted twice is one fact. Safe for concurrent use.
type Ingest struct {
	now func() time.Time
}

// New returns the ingest stage; now is the clock (required).
func New(now func() time.Time) (*Ingest, error) {
	if now == nil {
		return nil, errors.New("new ingest: clock: required")
	}
	return &Ingest{now: now}, nil
}

// Handle implements router.Stage.
func (s *Ingest) Handle(_ context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
	o := in.Fact.Observation
	o.CIID = strings.TrimSpace(o.CIID)
	o.CIType = strings.ToLower(strings.TrimSpace(o.CIType))
	if err := o.Validate(); err != nil {
		return nil, fault.Permanent(fmt.Errorf("invalid observation %s: %w", in.ID, err))
	}
	scope := make([]string, len(in.Fact.Scope))
	for i, f := range in.Fact.Scope {
		scope[i] = drift.FieldPointer(f)
		if err := drift.ValidPointer(scope[i]); err != nil {
			return nil, fault.Permanent(fmt.Errorf("invalid observation %s: scope[%d]: %w", in.ID, i, err))
		}
	}
	canonical, err := drift.Canonical(o.State)
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("invalid observation %s: state: %w", in.ID, err))
	}
	hash := drift.HashCanonical(canonical)
	observedAt := o.ObservedAt
	if observedAt.IsZero() {
		observedAt = in.Time
	}
	id := o.ID
	if id == "" {
		id = event.DeriveID("content", observedAt.UTC().Format(time.RFC3339Nano), hash)
	}
	source := o.Source
	if source == "" {
		source = "api"
	}
	return []event.Record{{
		ID:      event.DeriveID("observation-received", o.CIID, id),
		Subject: o.CIID,
		Time:    s.now(),
		Fact: event.ObservationReceived_v1{
			ObservationID: id, CIID: o.CIID, CIType: o.CIType, TemplateID: o.TemplateID,
			Source: source, Scope: scope, ObservedAt: observedAt.UTC(), ReceivedAt: s.now().UTC(),
			State: canonical, StateHash: hash, Details: o.Details,
		},
	}}, nil
}
