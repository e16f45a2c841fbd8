package ingest

import (
	"context"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// Credentials looks up enrolled agents by id; the agents read model (projections/agents)
// implements it. found is false for an agent that was never enrolled; err is for lookup
// failures, which are retried.
type Credentials interface {
	Credential(ctx context.Context, agentID string) (cred event.AgentEnrolled_v1, found bool, err error)
}

// KnownStates tells the state hash of a CI's last accepted observation; the drift read model
// knows it. found is false for a CI never observed.
type KnownStates interface {
	LastStateHash(ctx context.Context, ci string) (hash string, found bool, err error)
}

// checkUnsigned decides whether an unsigned submission may pass: always, unless signatures
// are required and its state is not the CI's last accepted one (a reconcile). It returns the
// rejection record when it may not, and an error when the lookup failed.
func (s *Ingest) checkUnsigned(ctx context.Context, in event.Message[event.ObservationSubmitted_v1], ci, hash string) ([]event.Record, error) {
	if !s.requireSigned || in.Fact.AgentID != "" || in.Fact.Signature != "" {
		return nil, nil
	}
	if s.known != nil {
		last, found, err := s.known.LastStateHash(ctx, ci)
		if err != nil {
			return nil, fmt.Errorf("look up the last state of %s: %w", ci, err)
		}
		if found && last == hash {
			return nil, nil
		}
	}
	return []event.Record{s.rejection(in, ci, hash, event.RejectUnsigned, "the observation is not signed and this server requires signed observations")}, nil
}

// checkSigned decides whether a signed submission's credentials allow it, before anything
// else is checked. It returns the rejection record when they do not, nil when they do (or
// the submission is unsigned), and an error when the lookup failed.
//
//   - a signature without agent_id, an unknown agent, or a signature that does not verify over
//     the submission as sent (its state included, through state_hash): rejected;
//   - a verified agent reporting on a CI outside its ci_ids: rejected.
func (s *Ingest) checkSigned(ctx context.Context, in event.Message[event.ObservationSubmitted_v1], ci string) ([]event.Record, error) {
	sub := in.Fact
	if sub.AgentID == "" && sub.Signature == "" {
		return nil, nil
	}
	// The hash of what was sent, for the record; a state that is no JSON has none.
	hash, _ := drift.Hash(sub.State)
	reject := func(reason event.RejectReason, detail string) ([]event.Record, error) {
		return []event.Record{s.rejection(in, ci, hash, reason, detail)}, nil
	}
	switch {
	case sub.AgentID == "":
		return reject(event.RejectBadSignature, "the observation is signed but names no agent_id")
	case s.creds == nil:
		return reject(event.RejectUnknownAgent, fmt.Sprintf("agent %q is not enrolled: this server checks no credentials", sub.AgentID))
	}
	cred, found, err := s.creds.Credential(ctx, sub.AgentID)
	if err != nil {
		return nil, fmt.Errorf("look up credential of agent %s: %w", sub.AgentID, err)
	}
	if !found {
		return reject(event.RejectUnknownAgent, fmt.Sprintf("agent %q is not enrolled", sub.AgentID))
	}
	if err := event.Verify(sub, cred); err != nil {
		return reject(event.RejectBadSignature, fmt.Sprintf("agent %q: %v", sub.AgentID, err))
	}
	if !cred.Allows(ci) {
		return reject(event.RejectForeignCI, fmt.Sprintf("ci %q is not enrolled for agent %q", ci, sub.AgentID))
	}
	return nil, nil
}

// rejection is the ObservationRejected_v1 record for a submission. Its id derives from the
// submitted message's id, so a redelivery records it once.
func (s *Ingest) rejection(in event.Message[event.ObservationSubmitted_v1], ci, hash string, reason event.RejectReason, detail string) event.Record {
	sub := in.Fact
	return event.Record{
		ID:      event.DeriveID("observation-rejected", in.ID),
		Subject: ci,
		Time:    s.now(),
		Fact: event.ObservationRejected_v1{
			ObservationID: sub.ID, CIID: ci, AgentID: sub.AgentID, Source: sub.Source,
			Reason: reason, Detail: detail, MessageID: in.ID, StateHash: hash,
			ObservedAt: sub.ObservedAt.UTC(), RejectedAt: s.now().UTC(),
		},
	}
}
