package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// ErrClosed is returned by a Store, and ends its subscriptions, once it is closed.
var ErrClosed = errors.New("event store is closed")

// Store is the bbolt event store. It is safe for concurrent use; one process at a time may
// open a data directory.
type Store struct {
	cfg    Config
	db     *bbolt.DB
	notify notifier

	// mu guards closing against Append and Subscribe, which must not start after Close.
	mu      sync.RWMutex
	closing bool
	reqs    chan *appendReq
	done    chan struct{} // closed when the committer has stopped
	closed  chan struct{} // closed when subscriptions must end
	subs    sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	commits   atomic.Uint64 // transactions committed, for tests and benchmarks
}

var _ eventstore.Store = (*Store)(nil)

// Open opens or creates the store in cfg.Dir and starts its committer. It fails fast, naming
// the directory, when another process holds the store.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bolt event store config: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(cfg.Dir, FileName), 0o600, &bbolt.Options{
		Timeout:      cfg.LockTimeout,
		FreelistType: bbolt.FreelistMapType,
		// The freelist is rebuilt from the pages at open instead of written with every commit:
		// fewer pages per commit, the same durability.
		NoFreelistSync: true,
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("data dir %s is in use by another driftwatch process (lock not acquired within %v)", cfg.Dir, cfg.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open event store in %s: %w", cfg.Dir, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketStreams, bucketIDs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("initialise event store in %s: %w", cfg.Dir, err), db.Close())
	}
	s := &Store{
		cfg:    cfg,
		db:     db,
		notify: notifier{ch: make(chan struct{})},
		reqs:   make(chan *appendReq, cfg.MaxBatch),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// Close stops accepting appends, lets the committer finish the ones already queued, ends
// every subscription with ErrClosed and closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		close(s.reqs)
		s.mu.Unlock()
		<-s.done
		close(s.closed)
		s.subs.Wait()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close event store: %w", err)
		}
	})
	return s.closeErr
}

// ReadStream returns up to max events of stream from revision from on, oldest first.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.Recorded, error) {
	if err := checkRead(ctx, max); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	var out []eventstore.Recorded
	err := s.db.View(func(tx *bbolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		prefix := streamPrefix(stream)
		c := tx.Bucket(bucketStreams).Cursor()
		for k, v := c.Seek(streamKey(prefix, from)); k != nil && len(out) < max; k, v = c.Next() {
			if !bytes.HasPrefix(k, prefix) {
				break
			}
			r, err := decodeRecord(beUint64(v), events.Get(v))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, closedErr(err))
	}
	return out, nil
}

// ReadLast returns the last event of stream.
func (s *Store) ReadLast(ctx context.Context, stream string) (eventstore.Recorded, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Recorded{}, false, fmt.Errorf("read last of %s: %w", stream, err)
	}
	var rec eventstore.Recorded
	found := false
	err := s.db.View(func(tx *bbolt.Tx) error {
		_, pos, ok := streamHead(tx.Bucket(bucketStreams), streamPrefix(stream))
		if !ok {
			return nil
		}
		r, err := decodeRecord(beUint64(pos), tx.Bucket(bucketEvents).Get(pos))
		rec, found = r, err == nil
		return err
	})
	if err != nil {
		return eventstore.Recorded{}, false, fmt.Errorf("read last of %s: %w", stream, closedErr(err))
	}
	return rec, found, nil
}

// ReadAll returns up to max events after position after, in global order.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, max int) ([]eventstore.Recorded, error) {
	if err := checkRead(ctx, max); err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, err)
	}
	out, err := s.readAll(after, max)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, closedErr(err))
	}
	return out, nil
}

func (s *Store) readAll(after eventstore.Position, max int) ([]eventstore.Recorded, error) {
	out, _, err := s.readKept(after, max, max, nil)
	return out, err
}

// readKept reads, after position after, up to max events that keep keeps (nil: all) in one
// transaction, looking at no more than scan events; it returns the position it read up to.
func (s *Store) readKept(after eventstore.Position, max, scan int, keep eventstore.Filter) ([]eventstore.Recorded, eventstore.Position, error) {
	var out []eventstore.Recorded
	if uint64(after) == ^uint64(0) {
		return nil, after, nil
	}
	read := after
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		n := 0
		for k, v := c.Seek(u64(uint64(after) + 1)); k != nil && len(out) < max && n < scan; k, v = c.Next() {
			r, kept, err := decodeRecordIf(beUint64(k), v, keep)
			if err != nil {
				return err
			}
			if kept {
				out = append(out, r)
			}
			read = eventstore.Position(beUint64(k))
			n++
		}
		return nil
	})
	return out, read, err
}

func checkRead(ctx context.Context, max int) error {
	if max < 1 {
		return fmt.Errorf("max %d: must be positive", max)
	}
	return ctx.Err()
}

// closedErr reports a read of the closed database file as ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// AtomicAppendMany reports that AppendMany makes all of its appends or none: they are
// committed in one transaction.
func (s *Store) AtomicAppendMany() bool { return true }

// Head returns the position of the last event, 0 for an empty store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var pos uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketEvents).Cursor().Last()
		pos = beUint64(k)
		return nil
	})
	return eventstore.Position(pos), closedErr(err)
}
