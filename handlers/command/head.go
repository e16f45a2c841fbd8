package command

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// retries is how often a command decides again after another writer changed the stream it
// decided on first.
const retries = 3

// nowOf reads a command's optional clock (default time.Now), in UTC.
func nowOf(now func() time.Time) time.Time {
	if now != nil {
		return now().UTC()
	}
	return time.Now().UTC()
}

// idOf draws a fresh UUID from a command's optional generator (default uuid.NewString).
func idOf(newID func() string) string {
	if newID != nil {
		return newID()
	}
	return uuid.NewString()
}

// head is the last fact of a stream, read from the event store (not a read model), and the
// revision to append the next one at.
type head[F event.Fact] struct {
	// Fact is the last fact; zero when the stream does not exist.
	Fact F
	// Exists says whether the stream holds a fact.
	Exists bool
	// Revision is the stream's last revision (valid when Exists).
	Revision uint64
	// Expected is the revision to append the next fact at: NoStream or Exact(Revision).
	Expected eventstore.Revision
}

// readHead reads the last fact of a stream.
func readHead[F event.Fact](ctx context.Context, store eventstore.Store, stream string) (head[F], error) {
	h := head[F]{Expected: eventstore.NoStream}
	last, found, err := store.ReadLast(ctx, stream)
	if err != nil {
		return h, fmt.Errorf("read %s: %w", stream, err)
	}
	if !found {
		return h, nil
	}
	h.Exists, h.Revision, h.Expected = true, last.Revision, eventstore.Exact(last.Revision)
	env, err := event.FromStore(last)
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
