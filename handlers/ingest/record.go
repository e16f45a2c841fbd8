package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// conflictAttempts bounds how often a decision is taken again after another writer changed
// the CI's observation stream first.
const conflictAttempts = 4

// record decides an admitted observation against the CI's observation stream and records the
// outcome there, with the stream's expected revision.
func (s *Ingest) record(ctx context.Context, in event.Message[event.ObservationSubmitted_v1], a admitted) (Outcome, error) {
	unlock := s.cis.lock(a.CIID)
	defer unlock()
	var err error
	for range conflictAttempts {
		var e *ciEntry
		if e, err = s.head(ctx, a.CIID); err != nil {
			return Outcome{}, err
		}
		var out Outcome
		out, err = s.decide(ctx, in, a, e)
		if !errors.Is(err, eventstore.ErrWrongRevision) {
			return out, err
		}
		s.cis.drop(a.CIID) // another writer was first: read the stream again
	}
	return Outcome{}, fmt.Errorf("record observation %s of %s: %w", a.id, a.CIID, err)
}

// decide turns one observation into facts on the CI's stream, given what the stream holds.
func (s *Ingest) decide(ctx context.Context, in event.Message[event.ObservationSubmitted_v1], a admitted, e *ciEntry) (Outcome, error) {
	receivedID := event.DeriveID("observation-received", a.CIID, a.id)
	unchangedID := event.DeriveID("observation-unchanged", a.CIID, a.id)
	out := Outcome{ObservationID: a.id, StateHash: e.hash}
	switch {
	case e.exists && e.lastID == receivedID && e.published:
		out.Status = StatusDuplicate
		return out, nil
	case e.exists && e.lastID == receivedID:
		// A redelivery of what was recorded: publish it again, it may not have been.
		rec, err := s.lastRecord(ctx, a.CIID)
		if err != nil {
			return Outcome{}, err
		}
		out.Status, out.Records = StatusDuplicate, []event.Record{rec}
		return out, nil
	case e.exists && e.lastID == unchangedID:
		out.Status = StatusDuplicate
		return out, nil
	case e.exists && a.ObservedAt.Before(e.observedAt):
		out.Status = StatusSuperseded
		return out, nil
	}
	hash, canonical, err := s.stateOf(ctx, a, e)
	if err != nil {
		return Outcome{}, err
	}
	now := s.deps.Now().UTC()
	stream := event.ObservationStreamPrefix + a.CIID
	expected := eventstore.NoStream
	if e.exists {
		expected = eventstore.Exact(e.revision)
	}
	if e.exists && hash == e.hash {
		out.Status = StatusUnchanged
		if s.cfg.UnchangedEvery > 0 && now.Sub(e.recordedAt) < s.cfg.UnchangedEvery {
			e.repeats++
			return out, nil
		}
		rec := event.Record{ID: unchangedID, Subject: a.CIID, Time: now, CorrelationID: in.CorrelationID, CausationID: in.ID,
			Fact: event.ObservationUnchanged_v1{ObservationID: a.id, CIID: a.CIID, Source: a.Source, ObservedAt: a.ObservedAt,
				ReceivedAt: now, StateHash: hash, Repeats: e.repeats + 1}}
		res, err := s.append(ctx, []appendOf{{stream, expected, rec}})
		if err != nil {
			return Outcome{}, err
		}
		rec.Position = res[0].Position
		s.cis.put(a.CIID, &ciEntry{exists: true, revision: res[0].NextRevision, position: rec.Position, lastID: unchangedID,
			hash: hash, observedAt: a.ObservedAt, recordedAt: now})
		out.Records = []event.Record{rec}
		return out, nil
	}
	rec := event.Record{ID: receivedID, Subject: a.CIID, Time: now, CorrelationID: in.CorrelationID, CausationID: in.ID,
		Fact: event.ObservationReceived_v2{ReceivedAt: now, Observed: event.Observed{
			ObservationID: a.id, CIID: a.CIID, CIType: a.CIType, TemplateID: a.TemplateID, Source: a.Source,
			Scope: a.scope, ObservedAt: a.ObservedAt, StateHash: hash, Details: a.Details,
		}}}
	appends := []appendOf{{stream, expected, rec}}
	if canonical != nil {
		st, ok, err := s.deps.States.Record(ctx, hash, canonical, now)
		if err != nil {
			return Outcome{}, err
		}
		if ok {
			appends = append([]appendOf{{event.StateStream(hash), eventstore.Any, st}}, appends...)
		}
	}
	res, err := s.append(ctx, appends)
	if err != nil {
		return Outcome{}, err
	}
	last := res[len(res)-1]
	rec.Position = last.Position
	if canonical != nil {
		s.deps.States.Stored(hash, canonical)
	}
	s.cis.put(a.CIID, &ciEntry{exists: true, revision: last.NextRevision, position: rec.Position, lastID: receivedID, received: true,
		hash: hash, observedAt: a.ObservedAt, recordedAt: now})
	out.Status, out.StateHash, out.Records = StatusChanged, hash, []event.Record{rec}
	return out, nil
}

// stateOf returns the CI's state after the observation: the observation's own state or, for
// a scoped observation of a CI with a state, that state with the scope's top-level members
// taken from the observation. canonical is nil when the state is known to be stored.
func (s *Ingest) stateOf(ctx context.Context, a admitted, e *ciEntry) (string, json.RawMessage, error) {
	canonical := a.canonical
	if canonical == nil && (!s.deps.States.Known(a.hash) || (len(a.scope) > 0 && e.exists)) {
		// Bytes seen before whose state is not known to be stored (an earlier append failed),
		// or a scoped state to merge: canonicalise them again.
		c, err := canonicalOf(a.State)
		if err != nil {
			return "", nil, fault.Permanent(fmt.Errorf("state: %w", err))
		}
		canonical = c
	}
	if len(a.scope) == 0 || !e.exists {
		return a.hash, canonical, nil
	}
	prev, err := s.deps.States.Get(ctx, e.hash)
	if err != nil {
		return "", nil, fmt.Errorf("read the last state of %s: %w", a.CIID, err)
	}
	merged, err := mergeScope(prev, canonical, a.scope)
	if err != nil {
		return "", nil, fault.Permanent(fmt.Errorf("merge scoped state of %s: %w", a.CIID, err))
	}
	hash := hashOf(merged)
	return hash, merged, nil
}

// appendOf is one record for one stream at an expected revision.
type appendOf struct {
	stream   string
	expected eventstore.Revision
	rec      event.Record
}

// append records the facts in one AppendMany.
func (s *Ingest) append(ctx context.Context, as []appendOf) ([]eventstore.AppendResult, error) {
	appends := make([]eventstore.Append, len(as))
	for i, a := range as {
		enc, err := a.rec.Encode()
		if err != nil {
			return nil, err
		}
		appends[i] = eventstore.Append{Stream: a.stream, Expected: a.expected, Events: []eventstore.Event{enc.StoreEvent()}}
	}
	res, err := s.deps.Store.AppendMany(ctx, appends)
	if err != nil {
		return nil, fmt.Errorf("record observation of %s: %w", strings.TrimPrefix(as[len(as)-1].stream, event.ObservationStreamPrefix), err)
	}
	return res, nil
}
