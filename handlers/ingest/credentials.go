package ingest

import (
	"context"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Credentials looks up enrolled agents by id. found is false for an agent that was never
// enrolled; err is for lookup failures, which are retried.
type Credentials interface {
	Credential(ctx context.Context, agentID string) (cred event.AgentEnrolled_v1, found bool, err error)
}

// StoreCredentials reads an agent's credential from the last fact of its stream in the event
// store (agent-<id>), so that a decision never waits for a read model: an agent enrolled a
// moment ago is known at once.
type StoreCredentials struct{ Store eventstore.Store }

// Credential implements Credentials.
func (c StoreCredentials) Credential(ctx context.Context, agentID string) (event.AgentEnrolled_v1, bool, error) {
	last, found, err := c.Store.ReadLast(ctx, event.StreamOf(event.TypeAgentEnrolled, agentID))
	if err != nil || !found {
		return event.AgentEnrolled_v1{}, false, err
	}
	env, err := event.FromStore(last)
	if err != nil {
		return event.AgentEnrolled_v1{}, false, fmt.Errorf("credential of agent %s: %w", agentID, err)
	}
	m, err := event.Decode[event.AgentEnrolled_v1](env)
	if err != nil {
		return event.AgentEnrolled_v1{}, false, fmt.Errorf("credential of agent %s: %w", agentID, err)
	}
	return m.Fact, true, nil
}

// checkCredentials decides whether the submission's credentials allow it, before anything
// is recorded. A signed observation is checked first: one altered on the way is a rejection
// to record, not merely invalid input. Unsigned ones are rejected when signatures are
// required. A rejection comes back as an Outcome with the record to emit.
//
//   - a signature without agent_id, an unknown agent, or a signature that does not verify over
//     the submission as sent (its state included, through state_hash): rejected;
//   - a verified agent reporting on a CI outside its ci_ids: rejected.
func (s *Ingest) checkCredentials(ctx context.Context, in event.Message[event.ObservationSubmitted_v1], a admitted) (Outcome, bool, error) {
	sub := in.Fact
	reject := func(reason event.RejectReason, detail string) (Outcome, bool, error) {
		rec := s.rejection(in, a, reason, detail)
		rej := rec.Fact.(event.ObservationRejected_v1)
		if s.logged.first(rec.ID) {
			s.deps.Logger.Warn("Observation rejected", zapRejection(rej, in.ID)...)
		}
		return Outcome{Status: StatusRejected, ObservationID: a.id, Rejection: &rej, Records: []event.Record{rec}}, true, nil
	}
	if sub.AgentID == "" && sub.Signature == "" {
		if s.cfg.RequireSigned {
			return reject(event.RejectUnsigned, "the observation is not signed and this server requires signed observations")
		}
		return Outcome{}, false, nil
	}
	if sub.AgentID == "" {
		return reject(event.RejectBadSignature, "the observation is signed but names no agent_id")
	}
	cred, found, err := s.deps.Credentials.Credential(ctx, sub.AgentID)
	if err != nil {
		return Outcome{}, false, fmt.Errorf("look up credential of agent %s: %w", sub.AgentID, err)
	}
	if !found {
		return reject(event.RejectUnknownAgent, fmt.Sprintf("agent %q is not enrolled", sub.AgentID))
	}
	if err := event.VerifyHashed(sub, cred, a.hash); err != nil {
		return reject(event.RejectBadSignature, fmt.Sprintf("agent %q: %v", sub.AgentID, err))
	}
	if !cred.Allows(a.CIID) {
		return reject(event.RejectForeignCI, fmt.Sprintf("ci %q is not enrolled for agent %q", a.CIID, sub.AgentID))
	}
	return Outcome{}, false, nil
}

// rejection is the ObservationRejected_v1 record for a submission. Its id derives from the
// submitted message's id, so a redelivery records it once.
func (s *Ingest) rejection(in event.Message[event.ObservationSubmitted_v1], a admitted, reason event.RejectReason, detail string) event.Record {
	sub := in.Fact
	now := s.deps.Now().UTC()
	return event.Record{
		ID:      event.DeriveID("observation-rejected", in.ID),
		Subject: a.CIID,
		Time:    now,
		Fact: event.ObservationRejected_v1{
			ObservationID: sub.ID, CIID: a.CIID, AgentID: sub.AgentID, Source: sub.Source,
			Reason: reason, Detail: detail, MessageID: in.ID, StateHash: a.hash,
			ObservedAt: a.ObservedAt, RejectedAt: now,
		},
	}
}
