package action

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Emitter records and publishes facts; *record.Emitter implements it.
type Emitter interface {
	Emit(ctx context.Context, recs ...event.Record) error
}

// RecheckerConfig tunes the rechecker. The zero value is the default.
type RecheckerConfig struct {
	// After is how long after a successful remediation attempt the drift may stay without a
	// verdict showing it repaired before it counts as still drifted; default 10m.
	After time.Duration
}

// RecheckerDeps are what the rechecker works with; all are required but Now.
type RecheckerDeps struct {
	Store     eventstore.Store
	Lifecycle *Lifecycle
	Emitter   Emitter
	Logger    *zap.Logger
	Now       func() time.Time
}

// Rechecker is the lifecycle's deadline: it follows the store's successful remediation
// attempts that changed the CI, and when After has passed since one without the drift
// resolving or a later attempt, it takes the drift to its next attempt or escalation, as a
// verdict still finding it would (a remediation whose effect no observation shows, an
// agent that went quiet). It follows the store from its head when it starts: an attempt that
// ended before waits for its next verdict. The request it emits has the same id as the
// lifecycle's own, so the two never ask twice. Cost: a timer per attempt in flight, and a
// read of the CI's streams when one is due.
type Rechecker struct {
	cfg  RecheckerConfig
	deps RecheckerDeps
}

// NewRechecker returns a rechecker; it refuses missing deps.
func NewRechecker(cfg RecheckerConfig, deps RecheckerDeps) (*Rechecker, error) {
	if cfg.After == 0 {
		cfg.After = 10 * time.Minute
	}
	var errs []error
	if cfg.After < 0 {
		errs = append(errs, fmt.Errorf("after: %s must not be negative", cfg.After))
	}
	if deps.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if deps.Lifecycle == nil {
		errs = append(errs, errors.New("lifecycle: required"))
	}
	if deps.Emitter == nil {
		errs = append(errs, errors.New("emitter: required"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new rechecker: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Rechecker{cfg: cfg, deps: deps}, nil
}

// due is a successful attempt waiting for its deadline.
type due struct {
	id, ciID string
	at       time.Time
}

// Run follows the store until ctx ends (then it returns nil) or the subscription fails.
func (r *Rechecker) Run(ctx context.Context) error {
	var from eventstore.Position
	if h, ok := r.deps.Store.(eventstore.Header); ok {
		if pos, err := h.Head(ctx); err == nil {
			from = pos
		}
	}
	sub, err := eventstore.SubscribeFiltered(ctx, r.deps.Store, from, func(_, typ string) bool { return typ == event.TypeActionSucceeded })
	if err != nil {
		return fmt.Errorf("follow remediations: %w", err)
	}
	pending := map[string]due{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := time.Hour
		for _, d := range pending {
			next = min(next, max(0, d.at.Sub(r.deps.Now())))
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return nil
		case rec, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("follow remediations: %w", err)
				}
				return nil
			}
			env, err := event.FromStore(rec)
			if err != nil {
				continue
			}
			m, err := event.Decode[event.ActionSucceeded_v1](env)
			if f := m.Fact; err == nil && f.DriftID != "" && f.Attempt > 0 && f.Changed && f.Kind.Remediates() {
				pending[f.ActionID] = due{id: f.ActionID, ciID: f.CIID, at: r.deps.Now().Add(r.cfg.After)}
			}
		case <-timer.C:
			now := r.deps.Now()
			for id, d := range pending {
				if d.at.After(now) {
					continue
				}
				delete(pending, id)
				if err := r.check(ctx, d); err != nil && ctx.Err() == nil {
					// The drift waits for its next verdict instead; the rechecker keeps going.
					r.deps.Logger.Warn("Re-check of a remediation failed", zap.String("stage", "action"), zap.String("ci_id", d.ciID), zap.Error(err))
				}
			}
		}
	}
}

// check takes the drift of a due attempt further when nothing happened to it since.
func (r *Rechecker) check(ctx context.Context, d due) error {
	l := r.deps.Lifecycle
	st, err := l.load(ctx, d.ciID)
	if err != nil {
		return err
	}
	for driftID, a := range st.h.drifts {
		if a.last != d.id || a.done.IsZero() || a.failed {
			continue
		}
		dr, ok := st.live(driftID)
		if !ok {
			return nil
		}
		kind, err := remedy(dr.Detected).Remediation()
		if err != nil {
			return nil
		}
		why := fmt.Sprintf("no verdict showed the drift repaired within %s of remediation attempt %d", r.cfg.After, a.attempts)
		recs := l.next(causeOf(event.DeriveID("recheck", d.id), ""), st, dr, kind, a.attempts, why)
		if err := r.deps.Emitter.Emit(ctx, recs...); err != nil {
			return fmt.Errorf("ask for the next remediation of %s: %w", driftID, err)
		}
		r.deps.Logger.Info("Remediation not confirmed in time", zap.String("stage", "action"), zap.String("ci_id", d.ciID), zap.String("drift_id", driftID))
		return nil
	}
	return nil
}
