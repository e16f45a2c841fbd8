package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// AsOf builds fresh read models as they stood at t: it replays the store from position 0
// into a new file at path, up to the last event recorded at or before t (the store records
// events in time order, so the replay stops at the first one recorded later). projs must be
// fresh instances; query them, then Close the runner and remove path. An audit reads the past
// this way from the facts themselves, not from a snapshot a read model kept.
func AsOf(ctx context.Context, path string, deps Deps, t time.Time, projs ...Projection) (*Runner, error) {
	if deps.Store == nil {
		return nil, fmt.Errorf("read models as of %s: event store: required", t.Format(time.RFC3339Nano))
	}
	deps.Store = until{Store: deps.Store, t: t}
	r, err := New(Config{Path: path, BatchSize: 512}, deps, projs...)
	if err != nil {
		return nil, fmt.Errorf("read models as of %s: %w", t.Format(time.RFC3339Nano), err)
	}
	if err := r.CatchUp(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("read models as of %s: %w", t.Format(time.RFC3339Nano), err)
	}
	return r, nil
}

// until is a store whose ReadAll ends before the first event recorded after t.
type until struct {
	eventstore.Store
	t time.Time
}

// ReadAll implements eventstore.Store.
func (u until) ReadAll(ctx context.Context, after eventstore.Position, max int) ([]eventstore.Recorded, error) {
	recs, err := u.Store.ReadAll(ctx, after, max)
	if err != nil {
		return nil, err
	}
	for i, rec := range recs {
		if rec.RecordedAt.After(u.t) {
			return recs[:i], nil
		}
	}
	return recs, nil
}
