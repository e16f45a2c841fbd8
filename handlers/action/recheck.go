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

// Rechecker keeps the lifecycle's time: it follows the store's remediation requests and
// successes.
//
//   - The deadline: when After has passed since a successful remediation attempt that
//     changed the CI without the drift resolving or a later attempt, it takes the drift to
//     its next attempt or escalation, as a verdict still finding it would (a remediation
//     whose effect no observation shows, an agent that went quiet). Attempts that succeeded
//     more than a day before it started are left to their next verdict.
//   - The maintenance window: a request whose NotBefore has come and that was neither
//     performed nor refused is delivered again (the same fact, under a new record id), now
//     that the runner may perform it, unless its drift resolved meanwhile.
//
// It reads the store from the start, so that a restart loses no window and no deadline. What
// it emits has the ids the lifecycle's own decisions have, so the two never ask twice. Cost:
// one pass over the store's action facts at start, a timer per remediation in flight, and a
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

// due is an action waiting for its time: a successful attempt's deadline, or a deferred
// request's window.
type due struct {
	id, ciID string
	at       time.Time
	// deferred holds the request that waits for its window; nil for a deadline.
	deferred *event.Record
}

// horizon is how far back in time at start successful attempts still get their deadline.
const horizon = 24 * time.Hour

// Run follows the store until ctx ends (then it returns nil) or the subscription fails.
func (r *Rechecker) Run(ctx context.Context) error {
	started := r.deps.Now()
	sub, err := eventstore.SubscribeFiltered(ctx, r.deps.Store, 0, func(_, typ string) bool {
		return typ == event.TypeActionSucceeded || typ == event.TypeActionRequested
	})
	if err != nil {
		return fmt.Errorf("follow remediations: %w", err)
	}
	type key struct {
		id       string
		deferred bool
	}
	pending := map[key]due{}
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
			if d, ok := r.follow(rec, started); ok {
				pending[key{d.id, d.deferred != nil}] = d
			}
		case <-timer.C:
			now := r.deps.Now()
			for key, d := range pending {
				if d.at.After(now) {
					continue
				}
				delete(pending, key)
				if err := r.check(ctx, d); err != nil && ctx.Err() == nil {
					// The drift waits for its next verdict instead; the rechecker keeps going.
					r.deps.Logger.Warn("Re-check of a remediation failed", zap.String("stage", "action"), zap.String("ci_id", d.ciID), zap.Error(err))
				}
			}
		}
	}
}

// follow returns what a followed fact makes wait, if anything.
func (r *Rechecker) follow(rec eventstore.Recorded, started time.Time) (due, bool) {
	env, err := event.FromStore(rec)
	if err != nil {
		return due{}, false
	}
	switch env.Type {
	case event.TypeActionRequested:
		m, err := event.Decode[event.ActionRequested_v1](env)
		if f := m.Fact; err == nil && !f.NotBefore.IsZero() {
			again := event.Record{ID: event.DeriveID("action-requested-in-window", f.ActionID), Subject: f.CIID, Time: f.NotBefore,
				CorrelationID: env.CorrelationID, CausationID: env.ID, Fact: f}
			return due{id: f.ActionID, ciID: f.CIID, at: f.NotBefore, deferred: &again}, true
		}
	case event.TypeActionSucceeded:
		m, err := event.Decode[event.ActionSucceeded_v1](env)
		if f := m.Fact; err == nil && f.DriftID != "" && f.Attempt > 0 && f.Changed && f.Kind.Remediates() && f.CompletedAt.After(started.Add(-horizon)) {
			return due{id: f.ActionID, ciID: f.CIID, at: f.CompletedAt.Add(r.cfg.After)}, true
		}
	}
	return due{}, false
}

// check takes the drift of a due action further when nothing happened to it since.
func (r *Rechecker) check(ctx context.Context, d due) error {
	l := r.deps.Lifecycle
	st, err := l.load(ctx, d.ciID)
	if err != nil {
		return err
	}
	if d.deferred != nil {
		_, done := st.h.succeeded[d.id]
		a := d.deferred.Fact.(event.ActionRequested_v1)
		if _, live := st.live(a.DriftID); done || st.h.failures[d.id] > 0 || (a.DriftID != "" && !live) {
			return nil
		}
		if err := r.deps.Emitter.Emit(ctx, *d.deferred); err != nil {
			return fmt.Errorf("ask again for %s of %s in its window: %w", a.Kind, a.DriftID, err)
		}
		r.deps.Logger.Info("Maintenance window open", zap.String("stage", "action"), zap.String("ci_id", d.ciID), zap.String("drift_id", a.DriftID))
		return nil
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
