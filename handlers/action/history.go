package action

import (
	"context"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// history is one CI's action stream (action-<ci_id>) folded: the outcome of each action,
// whether the CI is quarantined, with the networks to restore, and each drift's remediation
// attempts and tickets.
type history struct {
	succeeded map[string]event.Record // by action id
	failures  map[string]int          // by action id
	// quarantine holds the networks recorded by the quarantine in force; nil when none.
	quarantine []string
	drifts     map[string]*driftActions // by drift id
}

// driftActions is what was done about one drift.
type driftActions struct {
	// attempts is the highest remediation attempt asked for; last its action id.
	attempts int
	last     string
	// requested is when the last attempt was asked for.
	requested time.Time
	// done is when the last attempt succeeded; failed whether it failed for good.
	done   time.Time
	failed bool
	// tickets are the tickets opened for the drift, by kind.
	tickets map[TicketKind]Ticket
}

// drift returns what was done about a drift, never nil.
func (h *history) drift(id string) *driftActions {
	if d, ok := h.drifts[id]; ok {
		return d
	}
	return &driftActions{tickets: map[TicketKind]Ticket{}}
}

func (h *history) track(id string) *driftActions {
	d, ok := h.drifts[id]
	if !ok {
		d = &driftActions{tickets: map[TicketKind]Ticket{}}
		h.drifts[id] = d
	}
	return d
}

// loadHistory reads a CI's action stream.
func loadHistory(ctx context.Context, store eventstore.Store, ciID string) (*history, error) {
	h := &history{succeeded: map[string]event.Record{}, failures: map[string]int{}, drifts: map[string]*driftActions{}}
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
	case event.TypeActionRequested:
		m, err := event.Decode[event.ActionRequested_v1](env)
		if err != nil {
			return err
		}
		if f := m.Fact; f.DriftID != "" && f.Kind.Remediates() && f.Attempt >= h.track(f.DriftID).attempts {
			d := h.track(f.DriftID)
			if f.ActionID != d.last {
				d.attempts, d.last, d.done, d.failed = max(f.Attempt, 1), f.ActionID, time.Time{}, false
				d.requested = f.RequestedAt
			}
		}
	case event.TypeActionSucceeded:
		m, err := event.Decode[event.ActionSucceeded_v1](env)
		if err != nil {
			return err
		}
		h.succeeded[m.Fact.ActionID] = event.Erase(m)
		if f := m.Fact; f.DriftID != "" {
			d := h.track(f.DriftID)
			if f.ActionID == d.last {
				d.done, d.failed = f.CompletedAt, false
			}
			if t := f.Ticket; t != nil && (f.Kind == drift.ActionKindChangeRequest || f.Kind == drift.ActionKindIncident) {
				d.tickets[TicketKind(t.Kind)] = Ticket{Kind: TicketKind(t.Kind), ID: t.ID, Number: t.Number, URL: t.URL}
			}
		}
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
		if f := m.Fact; f.DriftID != "" {
			if d := h.track(f.DriftID); f.ActionID == d.last {
				d.failed = true
			}
		}
	}
	return nil
}
