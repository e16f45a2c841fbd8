package action

import (
	"context"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// history is one CI's action stream (action-<ci_id>) folded: the outcome of each action and
// whether the CI is quarantined, with the networks to restore.
type history struct {
	succeeded map[string]event.Record // by action id
	failures  map[string]int          // by action id
	// quarantine holds the networks recorded by the quarantine in force; nil when none.
	quarantine []string
}

// loadHistory reads a CI's action stream.
func loadHistory(ctx context.Context, store eventstore.Store, ciID string) (*history, error) {
	h := &history{succeeded: map[string]event.Record{}, failures: map[string]int{}}
	stream := event.ActionStreamPrefix + ciID
	const page = 512
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return nil, fmt.Errorf("load action history of %s: %w", ciID, err)
		}
		for _, r := range recs {
			if err := h.apply(r); err != nil {
				return nil, fmt.Errorf("load action history of %s: %w", ciID, err)
			}
		}
		if len(recs) < page {
			return h, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

func (h *history) apply(r eventstore.Recorded) error {
	env, err := event.FromStore(r)
	if err != nil {
		return err
	}
	switch env.Type {
	case event.TypeActionSucceeded:
		m, err := event.Decode[event.ActionSucceeded_v1](env)
		if err != nil {
			return err
		}
		h.succeeded[m.Fact.ActionID] = event.Erase(m)
		switch m.Fact.Kind {
		case drift.ActionKindQuarantine:
			// A quarantine that found the CI quarantined already keeps the first record.
			if h.quarantine == nil || len(m.Fact.Networks) > 0 {
				h.quarantine = append([]string{}, m.Fact.Networks...)
			}
		case drift.ActionKindRelease:
			h.quarantine = nil
		}
	case event.TypeActionFailed:
		m, err := event.Decode[event.ActionFailed_v1](env)
		if err != nil {
			return err
		}
		h.failures[m.Fact.ActionID]++
	}
	return nil
}
