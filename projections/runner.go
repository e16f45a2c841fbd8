package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// metaBucket holds the runner's own keys, per projection: "checkpoint/<name>" and
// "version/<name>"; projections use buckets named after themselves.
var metaBucket = []byte("_runner")

func checkpointKey(name string) []byte { return []byte("checkpoint/" + name) }
func versionKey(name string) []byte    { return []byte("version/" + name) }

// ErrStopped is returned by WaitFor once the runner stopped before reaching the position.
var ErrStopped = errors.New("projection runner stopped")

// Runner applies recorded events to its projections. Run follows the store; WaitFor,
// Position and the projections' queries are safe for concurrent use with it.
type Runner struct {
	cfg   Config
	store eventstore.Store
	log   *zap.Logger
	db    *bolt.DB
	projs []Projection

	mu       sync.Mutex
	marks    []eventstore.Position // checkpoint of each projection, in projs order
	pos      eventstore.Position   // the lowest of marks: every projection applied up to it
	advanced chan struct{}         // closed and replaced whenever pos grows or the runner stops
	stopped  error
}

// New opens (or creates) the bbolt file at cfg.Path, reads the checkpoint and opens every
// projection on the file. It refuses a bad config, missing deps and no or duplicate
// projections.
func New(cfg Config, deps Deps, projs ...Projection) (*Runner, error) {
	cfg.setDefaults()
	errs := []error{cfg.Validate(), deps.validate()}
	if len(projs) == 0 {
		errs = append(errs, errors.New("projections: at least one required"))
	}
	names := map[string]bool{}
	for i, p := range projs {
		switch {
		case p == nil:
			errs = append(errs, fmt.Errorf("projections[%d]: nil", i))
		case names[p.Name()]:
			errs = append(errs, fmt.Errorf("projections[%d]: name %q is used twice", i, p.Name()))
		default:
			names[p.Name()] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new projection runner: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("new projection runner: %w", err)
	}
	// The read models are derived from the store: they are written without fsync, and a file
	// a power cut left damaged is rebuilt from position 0. A process crash loses nothing: the
	// kernel still writes what was committed.
	opts := &bolt.Options{Timeout: cfg.LockTimeout, NoSync: true, NoFreelistSync: true}
	db, err := bolt.Open(cfg.Path, 0o600, opts)
	if err != nil && !errors.Is(err, bolt.ErrTimeout) {
		deps.Logger.Warn("Read models unreadable; rebuilding them from the event store", zap.String("path", cfg.Path), zap.Error(err))
		if rmErr := os.Remove(cfg.Path); rmErr == nil {
			db, err = bolt.Open(cfg.Path, 0o600, opts)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open projections file %s: %w", cfg.Path, err)
	}
	r := &Runner{cfg: cfg, store: deps.Store, log: deps.Logger, db: db, projs: projs, advanced: make(chan struct{})}
	if err := r.open(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open projections file %s: %w", cfg.Path, err)
	}
	return r, nil
}

// open reads each projection's checkpoint, drops the bucket of a projection whose version
// changed (it starts again from position 0), and opens every projection.
func (r *Runner) open() error {
	r.marks = make([]eventstore.Position, len(r.projs))
	err := r.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		legacy := meta.Get([]byte("checkpoint")) // one checkpoint for every projection, before per-projection ones
		for i, p := range r.projs {
			v := meta.Get(versionKey(p.Name()))
			known := len(v) == 8 && int(binary.BigEndian.Uint64(v)) == p.Version()
			switch {
			case known:
				r.marks[i] = readPosition(meta.Get(checkpointKey(p.Name())))
			case v == nil && len(legacy) == 8 && p.Version() == 1 && tx.Bucket([]byte(p.Name())) != nil:
				r.marks[i] = readPosition(legacy)
			default:
				if tx.Bucket([]byte(p.Name())) != nil {
					if err := tx.DeleteBucket([]byte(p.Name())); err != nil {
						return fmt.Errorf("drop projection %s for version %d: %w", p.Name(), p.Version(), err)
					}
				}
				r.marks[i] = 0
			}
			if err := meta.Put(versionKey(p.Name()), binary.BigEndian.AppendUint64(nil, uint64(p.Version()))); err != nil {
				return err
			}
			if err := meta.Put(checkpointKey(p.Name()), binary.BigEndian.AppendUint64(nil, uint64(r.marks[i]))); err != nil {
				return err
			}
		}
		if legacy != nil {
			return meta.Delete([]byte("checkpoint"))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.pos = lowest(r.marks)
	for _, p := range r.projs {
		if err := p.Open(r.db); err != nil {
			return fmt.Errorf("projection %s: %w", p.Name(), err)
		}
	}
	return nil
}

func readPosition(v []byte) eventstore.Position {
	if len(v) != 8 {
		return 0
	}
	return eventstore.Position(binary.BigEndian.Uint64(v))
}

func lowest(marks []eventstore.Position) eventstore.Position {
	if len(marks) == 0 {
		return 0
	}
	low := marks[0]
	for _, m := range marks[1:] {
		low = min(low, m)
	}
	return low
}

// Position returns the lowest checkpoint: every event up to it is applied to every
// projection.
func (r *Runner) Position() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// WaitFor returns once the checkpoint reached pos (read-your-writes after an append at pos),
// with ctx's error when ctx ends first, or with ErrStopped when the runner stopped first.
func (r *Runner) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		r.mu.Lock()
		cur, advanced, stopped := r.pos, r.advanced, r.stopped
		r.mu.Unlock()
		switch {
		case cur >= pos:
			return nil
		case stopped != nil:
			return fmt.Errorf("wait for projection position %d (at %d): %w", pos, cur, stopped)
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("wait for projection position %d (at %d): %w", pos, cur, ctx.Err())
		}
	}
}

// advance publishes new checkpoints to waiters.
func (r *Runner) advance(marks []eventstore.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	copy(r.marks, marks)
	pos := lowest(marks)
	if pos <= r.pos {
		return
	}
	r.pos = pos
	close(r.advanced)
	r.advanced = make(chan struct{})
}

// checkpoints returns a copy of every projection's checkpoint.
func (r *Runner) checkpoints() []eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventstore.Position(nil), r.marks...)
}

// stop wakes waiters for good: positions not reached yet never will be.
func (r *Runner) stop(why error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped != nil {
		return
	}
	r.stopped = why
	close(r.advanced)
	r.advanced = make(chan struct{})
}

// Close stops the runner and closes the file. Cancel Run's context and wait for Run to return
// before calling it.
func (r *Runner) Close() error {
	r.stop(ErrStopped)
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("close projections file %s: %w", r.cfg.Path, err)
	}
	return nil
}
