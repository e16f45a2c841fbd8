package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// head returns what the CI's observation stream holds now: the cached entry when the
// stream's last event is still the one it describes (or, for a sole writer, whenever there is
// one), else the entry read from that event. Call it with the CI's lock held.
func (s *Ingest) head(ctx context.Context, ci string) (*ciEntry, error) {
	if s.cfg.SoleWriter {
		if e := s.cis.get(ci); e != nil {
			return e, nil
		}
	}
	last, found, err := s.deps.Store.ReadLast(ctx, event.ObservationStreamPrefix+ci)
	if err != nil {
		return nil, fmt.Errorf("read the observations of %s: %w", ci, err)
	}
	if !found {
		e := &ciEntry{}
		s.cis.put(ci, e)
		return e, nil
	}
	if e := s.cis.get(ci); e != nil && e.exists && e.revision == last.Revision && e.lastID == last.ID {
		return e, nil
	}
	env, err := event.FromStore(last)
	if err != nil {
		return nil, fmt.Errorf("read the observations of %s: %w", ci, err)
	}
	e := &ciEntry{exists: true, revision: last.Revision, position: last.Position, lastID: last.ID}
	switch env.Type {
	case event.TypeObservationReceivedV2:
		m, err := event.Decode[event.ObservationReceived_v2](env)
		if err != nil {
			return nil, fmt.Errorf("read the observations of %s: %w", ci, err)
		}
		e.received, e.hash, e.observedAt, e.recordedAt = true, m.Fact.StateHash, m.Fact.ObservedAt, m.Fact.ReceivedAt
	case event.TypeObservationUnchanged:
		m, err := event.Decode[event.ObservationUnchanged_v1](env)
		if err != nil {
			return nil, fmt.Errorf("read the observations of %s: %w", ci, err)
		}
		e.hash, e.observedAt, e.recordedAt = m.Fact.StateHash, m.Fact.ObservedAt, m.Fact.ReceivedAt
	default:
		return nil, fmt.Errorf("read the observations of %s: unexpected %s in its stream", ci, env.Type)
	}
	s.cis.put(ci, e)
	return e, nil
}

// lastRecord reads the CI's last ObservationReceived_v2 again, to publish it again.
func (s *Ingest) lastRecord(ctx context.Context, ci string) (event.Record, error) {
	last, found, err := s.deps.Store.ReadLast(ctx, event.ObservationStreamPrefix+ci)
	if err != nil || !found {
		return event.Record{}, fmt.Errorf("read the last observation of %s: found %v: %w", ci, found, err)
	}
	env, err := event.FromStore(last)
	if err != nil {
		return event.Record{}, err
	}
	m, err := event.Decode[event.ObservationReceived_v2](env)
	if err != nil {
		return event.Record{}, err
	}
	m.Position = last.Position
	return event.Erase(m), nil
}

func canonicalOf(state json.RawMessage) (json.RawMessage, error) { return drift.CanonicalObject(state) }

func hashOf(canonical json.RawMessage) string { return drift.HashCanonical(canonical) }

// mergeScope replaces, in prev, the top-level members that scope names with those of next
// (removing those next lacks), and returns the result in canonical form. A scope entry is a
// JSON pointer; a deeper pointer scopes its top-level member.
func mergeScope(prev, next json.RawMessage, scope []string) (json.RawMessage, error) {
	var p, n map[string]json.RawMessage
	if err := json.Unmarshal(prev, &p); err != nil {
		return nil, fmt.Errorf("previous state: %w", err)
	}
	if err := json.Unmarshal(next, &n); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if p == nil {
		p = map[string]json.RawMessage{}
	}
	for _, ptr := range scope {
		first, _, _ := strings.Cut(strings.TrimPrefix(ptr, "/"), "/")
		key := strings.NewReplacer("~1", "/", "~0", "~").Replace(first)
		if v, ok := n[key]; ok {
			p[key] = v
		} else {
			delete(p, key)
		}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, errors.New("merge scoped state: " + err.Error())
	}
	return drift.CanonicalObject(raw)
}
