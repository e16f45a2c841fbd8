package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
)

// Acknowledgements acknowledges drifts. It decides on the CI's drift ledger (the stream the
// emit stage opens and resolves drifts on) with optimistic concurrency, deciding again when
// another writer came first. It is safe for concurrent use.
type Acknowledgements struct {
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Acknowledge acknowledges drift driftID of CI ciID, by by with comment, and returns the
// recorded DriftAcknowledged_v1 with its position: the new one, or the one recorded before
// when the drift was acknowledged already (the caller may publish it again). An unknown drift
// is fault.ErrNotFound, a resolved one fault.ErrConflict.
func (c Acknowledgements) Acknowledge(ctx context.Context, ciID, driftID, by, comment string) (event.Record, error) {
	for attempt := 0; ; attempt++ {
		l, err := ledger.Load(ctx, c.Store, ciID)
		if err != nil {
			return event.Record{}, fmt.Errorf("read the drift ledger of %s: %w", ciID, err)
		}
		rec, ok, err := l.Acknowledge(driftID, by, comment, nowOf(c.Now))
		switch {
		case errors.Is(err, ledger.ErrUnknownDrift):
			return event.Record{}, fmt.Errorf("drift event %q: %w", driftID, fault.ErrNotFound)
		case errors.Is(err, ledger.ErrResolved):
			return event.Record{}, fmt.Errorf("drift event %q is resolved; only open drifts can be acknowledged: %w", driftID, fault.ErrConflict)
		case err != nil:
			return event.Record{}, err
		case !ok:
			return findAck(ctx, c.Store, ciID, driftID)
		}
		recs := []event.Record{rec} // Commit sets the position in the slice it is given
		err = l.Commit(ctx, c.Store, recs...)
		switch {
		case err == nil:
			return recs[0], nil
		case errors.Is(err, eventstore.ErrWrongRevision) && attempt < retries:
			continue
		case errors.Is(err, eventstore.ErrWrongRevision):
			return event.Record{}, fmt.Errorf("the drifts of CI %q kept changing; retry: %w", ciID, fault.ErrConflict)
		}
		return event.Record{}, fmt.Errorf("record the acknowledgement of %s: %w", driftID, err)
	}
}

// findAck returns the recorded acknowledgement of a drift, with its position.
func findAck(ctx context.Context, store eventstore.Store, ciID, driftID string) (event.Record, error) {
	const page = 256
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, ledger.Stream(ciID), from, page)
		if err != nil {
			return event.Record{}, fmt.Errorf("read the drift ledger of %s: %w", ciID, err)
		}
		for _, rec := range recs {
			if rec.Type != event.TypeDriftAcknowledged {
				continue
			}
			env, err := event.FromStore(rec)
			if err != nil {
				continue
			}
			if m, err := event.Decode[event.DriftAcknowledged_v1](env); err == nil && m.Fact.DriftID == driftID {
				m.Position = rec.Position
				return event.Erase(m), nil
			}
		}
		if len(recs) < page {
			return event.Record{}, fmt.Errorf("acknowledgement of drift %s not found in %s", driftID, ledger.Stream(ciID))
		}
		from = recs[len(recs)-1].Revision + 1
	}
}
