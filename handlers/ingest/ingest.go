// Package ingest is the first stage: it validates and normalises raw observations and checks
// the credentials of the agents that sign them.
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
// An observation that names an agent (agent_id) must carry that agent's valid signature and
// be about one of its CIs; otherwise, and for unsigned observations when signatures are
// required, Ingest emits ObservationRejected_v1 instead (see credentials.go).
//
// It is idempotent and deduplicates: the output id derives from the CI and the source's
// observation id (or, without one, from the observation time and state hash), so the same
// observation submitted twice is one fact. Safe for concurrent use if its Credentials are.
type Ingest struct {
	now           func() time.Time
	creds         Credentials
	known         KnownStates
	requireSigned bool
}

// Option configures the ingest stage.
type Option func(*Ingest)

// WithCredentials verifies signed observations against creds. Without it, every observation
// that names an agent is rejected as coming from an unknown agent.
func WithCredentials(creds Credentials) Option { return func(s *Ingest) { s.creds = creds } }

// RequireSigned, when on, rejects observations that name no agent. Default off: unsigned
// observations (curl, scripts) pass as before.
func RequireSigned(on bool) Option { return func(s *Ingest) { s.requireSigned = on } }

// WithKnownStates lets an unsigned observation pass while signatures are required when it
// repeats the CI's last accepted state (as POST /drift/reconcile submits it): it tells
// nothing new, so it needs no signature.
func WithKnownStates(k KnownStates) Option { return func(s *Ingest) { s.known = k } }

// New returns the ingest stage; now is the clock (required). Requiring signatures needs
// credentials to check them against.
func New(now func() time.Time, opts ...Option) (*Ingest, error) {
	s := &Ingest{now: now}
	for _, o := range opts {
		o(s)
	}
	var errs []error
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if s.requireSigned && s.creds == nil {
		errs = append(errs, errors.New("credentials: required to require signed observations"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new ingest: %w", err)
	}
	return s, nil
}

// Handle implements router.Stage.
func (s *Ingest) Handle(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
	o := in.Fact.Observation
	o.CIID = strings.TrimSpace(o.CIID)
	o.CIType = strings.ToLower(strings.TrimSpace(o.CIType))
	// A signed observation is checked first: one altered on the way is a rejection to record,
	// not merely invalid input.
	if rejected, err := s.checkSigned(ctx, in, o.CIID); err != nil || rejected != nil {
		return rejected, err
	}
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
	if rejected, err := s.checkUnsigned(ctx, in, o.CIID, hash); err != nil || rejected != nil {
		return rejected, err
	}
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
