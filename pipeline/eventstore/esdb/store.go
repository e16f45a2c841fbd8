package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Store is the EventStoreDB event store. It is safe for concurrent use.
type Store struct {
	cfg    Config
	client *esdb.Client
}

var _ eventstore.Store = (*Store)(nil)

// Open returns a Store for the server at cfg.URL. The client connects lazily: Open fails
// only on a bad configuration, and the first call reports an unreachable server.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("esdb event store config: %w", err)
	}
	conf, err := cfg.clientConfig()
	if err != nil {
		return nil, fmt.Errorf("esdb event store config: %w", err)
	}
	client, err := esdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("create esdb client: %w", err)
	}
	return &Store{cfg: cfg, client: client}, nil
}

// Close closes the client's connections; open subscriptions end with an error.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close esdb client: %w", err)
	}
	return nil
}

// ReadStream returns up to max events of stream from revision from on, oldest first. A
// missing stream reads as empty.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.Recorded, error) {
	if max < 1 {
		return nil, fmt.Errorf("read stream %s: max %d: must be positive", stream, max)
	}
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(from)}, uint64(max))
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	defer rs.Close()
	var out []eventstore.Recorded
	for {
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return out, nil
		case isCode(err, esdb.ErrorCodeResourceNotFound):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		case ev.Event != nil:
			out = append(out, recorded(ev.Event))
		}
	}
}

// ReadLast returns the last event of stream, read backwards from its end.
func (s *Store) ReadLast(ctx context.Context, stream string) (eventstore.Recorded, bool, error) {
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return eventstore.Recorded{}, false, fmt.Errorf("read last of %s: %w", stream, err)
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF), isCode(err, esdb.ErrorCodeResourceNotFound):
			return eventstore.Recorded{}, false, nil
		case err != nil:
			return eventstore.Recorded{}, false, fmt.Errorf("read last of %s: %w", stream, err)
		case ev.Event != nil:
			return recorded(ev.Event), true, nil
		}
	}
}

// ReadAll returns up to max events after position after, in global order, without system
// events. after must be 0 or a position this store returned.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, max int) ([]eventstore.Recorded, error) {
	if max < 1 {
		return nil, fmt.Errorf("read all after %d: max %d: must be positive", after, max)
	}
	var out []eventstore.Recorded
	last := uint64(after)
	for len(out) < max {
		// One more than needed: the read includes the event at last itself.
		count := uint64(max-len(out)) + 1
		read, err := s.readAllPage(ctx, &last, count, max, &out)
		if err != nil {
			return nil, fmt.Errorf("read all after %d: %w", after, err)
		}
		if read < count {
			break
		}
	}
	return out, nil
}

// readAllPage reads up to count events of $all from *last on, appends the user events after
// *last to out until it holds max, moves *last past every event it saw, and returns how many
// events it read.
func (s *Store) readAllPage(ctx context.Context, last *uint64, count uint64, max int, out *[]eventstore.Recorded) (uint64, error) {
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{From: allPosition(*last)}, count)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	var read uint64
	for len(*out) < max {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return read, err
		}
		read++
		r := ev.Event
		if r == nil || r.Position.Commit <= *last {
			continue
		}
		*last = r.Position.Commit
		if !isSystem(r) {
			*out = append(*out, recorded(r))
		}
	}
	return read, nil
}

// allPosition is where a read of $all after position p starts: at the start, or at p
// itself, which the read includes.
func allPosition(p uint64) esdb.AllPosition {
	if p == 0 {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p, Prepare: p}
}

// isSystem reports whether r is one of EventStoreDB's own events.
func isSystem(r *esdb.RecordedEvent) bool { return strings.HasPrefix(r.EventType, "$") }

func recorded(r *esdb.RecordedEvent) eventstore.Recorded {
	return eventstore.Recorded{
		Event:      eventstore.Event{ID: r.EventID.String(), Type: r.EventType, Data: r.Data},
		Stream:     r.StreamID,
		Revision:   r.EventNumber,
		Position:   eventstore.Position(r.Position.Commit),
		RecordedAt: r.CreatedDate.UTC(),
	}
}

// isCode reports whether err is a client error with code.
func isCode(err error, code esdb.ErrorCode) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == code
}
