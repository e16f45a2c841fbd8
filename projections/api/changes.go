package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// head is the current state of a policy or template stream, read from the event store (not
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

// policyHead returns the current policy, if it exists and is not deleted.
func (a *api) policyHead(ctx context.Context, id string) (drift.Policy, bool, eventstore.Revision, error) {
	h, err := readHead[event.PolicyChanged_v1](ctx, a.Store, event.StreamOf(event.TypePolicyChanged, id))
	live := h.Expected != eventstore.NoStream && !h.Fact.Deleted
	return h.Fact.Policy, live, h.Expected, err
}

// templateHead returns the current template, if it exists and is not deleted.
func (a *api) templateHead(ctx context.Context, id string) (drift.Template, bool, eventstore.Revision, error) {
	h, err := readHead[event.TemplateChanged_v1](ctx, a.Store, event.StreamOf(event.TypeTemplateChanged, id))
	live := h.Expected != eventstore.NoStream && !h.Fact.Deleted
	return h.Fact.Template, live, h.Expected, err
}

// record appends a policy or template change at the expected revision, then waits until the
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
