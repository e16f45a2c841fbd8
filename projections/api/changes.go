package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// head is the current state of an agent's stream, read from the event store (not
// the read model) so that a change appends against the revision it was decided on.
type head[F event.Fact] struct {
	// Fact is the last change; zero when the stream does not exist.
	Fact F
	// Expected is the revision to append the next change at: NoStream or Exact(last).
	Expected eventstore.Revision
}

// readHead reads the last change of a stream.
func readHead[F event.Fact](ctx context.Context, store eventstore.Store, stream string) (head[F], error) {
	h := head[F]{Expected: eventstore.NoStream}
	const page = 256
	var last *eventstore.Recorded
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return h, unavailable("the event store could not be read; retry", fmt.Errorf("read %s: %w", stream, err))
		}
		if len(recs) > 0 {
			last = &recs[len(recs)-1]
			from = last.Revision + 1
		}
		if len(recs) < page {
			break
		}
	}
	if last == nil {
		return h, nil
	}
	h.Expected = eventstore.Exact(last.Revision)
	env, err := event.FromStore(*last)
	if err != nil {
		return h, fmt.Errorf("read head of %s: %w", stream, err)
	}
	msg, err := event.Decode[F](env)
	if err != nil {
		return h, fmt.Errorf("read head of %s: %w", stream, err)
	}
	h.Fact = msg.Fact
	return h, nil
}

// record appends an agent's enrolment at the expected revision, then waits until the
// read models applied it. Another writer first is a 409.
func (a *api) record(ctx context.Context, subject string, f event.Fact, expected eventstore.Revision) error {
	rec := event.Record{ID: a.NewID(), Subject: subject, Time: a.Now(), Fact: f}
	ev, stream, err := rec.StoreEvent()
	if err != nil {
		return err
	}
	res, err := a.Store.Append(ctx, stream, expected, ev)
	if errors.Is(err, eventstore.ErrWrongRevision) {
		return conflict(fmt.Sprintf("%q was changed by another request meanwhile; read it again and retry", subject))
	}
	if err != nil {
		return unavailable("the change could not be recorded; retry", err)
	}
	return a.waitFor(ctx, res.Position)
}
