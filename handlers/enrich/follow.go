package enrich

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// FollowerDeps are what a Follower works with; all are required but Now.
type FollowerDeps struct {
	// Store is followed for template and policy changes.
	Store eventstore.Store
	// Reconciler sweeps the CIs.
	Reconciler *Reconciler
	// WaitFor returns once the read models the reconciler consults (the catalogue, the CIs'
	// last verdicts) applied the event at pos.
	WaitFor func(ctx context.Context, pos eventstore.Position) error
	Logger  *zap.Logger
	Now     func() time.Time
}

// Follower re-evaluates CIs when their desired state or policy changes, with no reconcile
// call: it follows the store's template and policy changes and, for each burst of them, sweeps
// the CIs in place (only those judged on something else are sent to be judged again). On
// start it sweeps once, which covers any change made while it was not running. A change of
// desired state alone thus opens or resolves drift from each CI's last observed state.
type Follower struct {
	deps FollowerDeps
}

// NewFollower returns a Follower; it refuses missing deps.
func NewFollower(deps FollowerDeps) (*Follower, error) {
	var errs []error
	if deps.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if deps.Reconciler == nil {
		errs = append(errs, errors.New("reconciler: required"))
	}
	if deps.WaitFor == nil {
		errs = append(errs, errors.New("wait for: required"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new follower: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Follower{deps: deps}, nil
}

// changes keeps the facts that change a CI's desired state or policy.
func changes(_, typ string) bool {
	return typ == event.TypeTemplateChanged || typ == event.TypePolicyChanged
}

// Run follows the store until ctx ends (then it returns nil) or the subscription fails.
func (f *Follower) Run(ctx context.Context) error {
	started := f.deps.Now()
	var from eventstore.Position
	known := false
	if h, ok := f.deps.Store.(eventstore.Header); ok {
		if pos, err := h.Head(ctx); err == nil {
			from, known = pos, true
		}
	}
	sub, err := eventstore.SubscribeFiltered(ctx, f.deps.Store, from, changes)
	if err != nil {
		return fmt.Errorf("follow desired-state changes: %w", err)
	}
	if err := f.sweep(ctx, from, "driftwatch started"); err != nil {
		return err
	}
	for {
		var burst []eventstore.Recorded
		select {
		case rec, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("follow desired-state changes: %w", err)
				}
				return nil
			}
			burst = append(burst, rec)
		case <-ctx.Done():
			return nil
		}
	drain:
		for {
			select {
			case rec, ok := <-sub.Events():
				if !ok {
					break drain
				}
				burst = append(burst, rec)
			default:
				break drain
			}
		}
		var reasons []string
		var last eventstore.Position
		for _, rec := range burst {
			// Without the head, the subscription starts from the first change ever made;
			// those before the start sweep are covered by it.
			if !known && rec.RecordedAt.Before(started) {
				continue
			}
			reasons = append(reasons, describeChange(rec))
			last = rec.Position
		}
		if len(reasons) == 0 {
			continue
		}
		if err := f.sweep(ctx, last, strings.Join(reasons, "; ")); err != nil {
			return err
		}
	}
}

// sweep waits for the read models to apply pos, then re-evaluates what it changed.
func (f *Follower) sweep(ctx context.Context, pos eventstore.Position, reason string) error {
	if err := f.deps.WaitFor(ctx, pos); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("re-evaluate after %s: %w", reason, err)
	}
	sw, err := f.deps.Reconciler.Reconcile(ctx, reason, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// A failed sweep is retried by the next change or restart; the follower keeps going.
		f.deps.Logger.Warn("Re-evaluation after a desired-state change failed", zap.String("reason", reason), zap.Error(err))
		return nil
	}
	if sw.Requested > 0 {
		f.deps.Logger.Info("Re-evaluating CIs after a desired-state change", zap.String("reason", reason),
			zap.Int("cis", sw.CIs), zap.Int("requested", sw.Requested))
	}
	return nil
}

// describeChange names a change for the re-evaluations it causes: "template web-vm changed".
func describeChange(rec eventstore.Recorded) string {
	kind, id := "policy", strings.TrimPrefix(rec.Stream, "policy-")
	if rec.Type == event.TypeTemplateChanged {
		kind, id = "template", strings.TrimPrefix(rec.Stream, "template-")
	}
	return fmt.Sprintf("%s %s changed (revision %d)", kind, id, rec.Revision+1)
}
