package projections

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Run subscribes to the store after the checkpoint and applies events as they come, in
// batches of up to Config.BatchSize, until ctx ends (it returns nil then) or the subscription
// or a transaction fails (it returns the error). Either way the runner stops: WaitFor fails
// from then on. Unknown or malformed events are logged and skipped.
func (r *Runner) Run(ctx context.Context) error {
	err := r.run(ctx)
	if err != nil {
		r.stop(fmt.Errorf("%w: %w", ErrStopped, err))
	} else {
		r.stop(ErrStopped)
	}
	return err
}

func (r *Runner) run(ctx context.Context) error {
	from := r.Position()
	sub, err := r.store.Subscribe(ctx, from)
	if err != nil {
		return fmt.Errorf("subscribe to the event store after %d: %w", from, err)
	}
	r.log.Info("Projection runner started", zap.Uint64("position", uint64(from)), zap.String("path", r.cfg.Path))
	defer r.log.Info("Projection runner stopped", zap.Uint64("position", uint64(r.Position())))
	for {
		var batch []eventstore.Recorded
		select {
		case rec, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("event store subscription after %d ended: %w", r.Position(), err)
				}
				return nil
			}
			batch = append(batch, rec)
		case <-ctx.Done():
			return nil
		}
	fill:
		for len(batch) < r.cfg.BatchSize {
			select {
			case rec, ok := <-sub.Events():
				if !ok {
					break fill
				}
				batch = append(batch, rec)
			default:
				break fill
			}
		}
		if err := r.applyBatch(batch); err != nil {
			return err
		}
	}
}

// CatchUp applies every event the store holds after the checkpoint, reading with ReadAll, and
// returns once it has applied the last one. Rebuild uses it; it may also prime a runner before
// Run.
func (r *Runner) CatchUp(ctx context.Context) error {
	for {
		recs, err := r.store.ReadAll(ctx, r.Position(), r.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read the event store after %d: %w", r.Position(), err)
		}
		if len(recs) == 0 {
			return nil
		}
		if err := r.applyBatch(recs); err != nil {
			return err
		}
	}
}

// applyBatch applies a batch in one transaction. If that fails it applies the events one by
// one, so that the checkpoint stops right before the event that fails.
func (r *Runner) applyBatch(batch []eventstore.Recorded) error {
	err := r.apply(batch)
	if err == nil || len(batch) == 1 {
		return err
	}
	for _, rec := range batch {
		if err := r.apply([]eventstore.Recorded{rec}); err != nil {
			return err
		}
	}
	return nil
}

// skipped is an event left out of the read models, logged once its batch committed.
type skipped struct {
	rec        eventstore.Recorded
	projection string
	err        error
}

// apply applies a batch to every projection whose checkpoint is before each event, and
// moves the checkpoints, in one transaction. Events at or before a projection's checkpoint
// are redeliveries (or, for a projection that is catching up, events the others have) and
// change nothing.
func (r *Runner) apply(batch []eventstore.Recorded) error {
	var skips []skipped
	marks := r.checkpoints()
	err := r.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		for _, rec := range batch {
			var env event.Envelope
			decoded := false
			for i, p := range r.projs {
				if rec.Position <= marks[i] {
					continue
				}
				marks[i] = rec.Position
				if !consumes(p, rec.Type) {
					continue
				}
				if !decoded {
					decoded = true
					var err error
					if env, err = event.FromStore(rec); err != nil {
						skips = append(skips, skipped{rec: rec, err: err})
						env.Type = ""
					} else if !event.Known(env.Type) {
						skips = append(skips, skipped{rec: rec, err: fmt.Errorf("unknown event type %q", env.Type)})
						env.Type = ""
					}
				}
				if env.Type == "" {
					continue
				}
				err := p.Apply(tx, Event{Recorded: rec, Envelope: env})
				if IsSkip(err) {
					skips = append(skips, skipped{rec: rec, projection: p.Name(), err: err})
				} else if err != nil {
					return fmt.Errorf("apply %s %s at position %d to projection %s: %w", env.Type, rec.ID, rec.Position, p.Name(), err)
				}
			}
		}
		for i, p := range r.projs {
			if err := meta.Put(checkpointKey(p.Name()), binary.BigEndian.AppendUint64(nil, uint64(marks[i]))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range skips {
		r.log.Warn("Skipped event the read models cannot use",
			zap.String("message_id", s.rec.ID), zap.String("event_type", s.rec.Type),
			zap.Uint64("position", uint64(s.rec.Position)), zap.String("projection", s.projection), zap.Error(s.err))
	}
	r.log.Debug("Applied events", zap.Int("count", len(batch)), zap.Uint64("position", uint64(lowest(marks))))
	r.advance(marks)
	return nil
}

// Consumer is implemented by projections that say which fact types they read, so that the
// runner does not hand them the others (states, above all, are large).
type Consumer interface {
	Consumes(typ string) bool
}

func consumes(p Projection, typ string) bool {
	c, ok := p.(Consumer)
	return !ok || c.Consumes(typ)
}
