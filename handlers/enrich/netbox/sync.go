package netbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/enrich"
)

// Reevaluator judges CIs again from their last observed state: the CIs match selects (every
// CI when match is nil), in place; enrich.Reconciler.Reconcile implements it.
type Reevaluator func(ctx context.Context, reason string, match func(enrich.CI) bool) (enrich.Sweep, error)

// SyncConfig configures a Sync.
type SyncConfig struct {
	// Secret is the webhooks' shared secret (NetBox's webhook "secret"); required for
	// Webhook.
	Secret []byte
	// CursorFile keeps the id of the last change-log record read, across restarts;
	// required for Run.
	CursorFile string
	// Every is how often Run reads the change log; default 30s.
	Every time.Duration
}

// Sync keeps driftwatch's view of NetBox current. NetBox's webhooks (Webhook) and its change
// log (Run, from a persisted cursor: NetBox never retries a failed webhook, so a change made
// while driftwatch was down is caught up after it starts) name what a change touched; Sync
// drops those cached desired states and has the CIs judged again, so that a change of desired
// state alone opens or resolves drift. Both may report one change: judging again is in place
// and its requests derive their ids from what they judge, so the second report is a no-op.
type Sync struct {
	cfg        SyncConfig
	source     *Source
	reevaluate Reevaluator
	log        *zap.Logger
}

// NewSync returns a Sync over source.
func NewSync(cfg SyncConfig, source *Source, reevaluate Reevaluator, log *zap.Logger) (*Sync, error) {
	var errs []error
	if source == nil {
		errs = append(errs, errors.New("source: required"))
	}
	if reevaluate == nil {
		errs = append(errs, errors.New("reevaluate: required"))
	}
	if log == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if cfg.Every == 0 {
		cfg.Every = 30 * time.Second
	}
	if cfg.Every < 0 {
		errs = append(errs, fmt.Errorf("every: %s is negative", cfg.Every))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new netbox sync: %w", err)
	}
	return &Sync{cfg: cfg, source: source, reevaluate: reevaluate, log: log}, nil
}

// Change is what one webhook or change-log read touched and what was judged again.
type Change struct {
	All   bool     `json:"all"`
	Names []string `json:"names"`
	// CIs were compared; Requested were sent to be judged again.
	CIs       int `json:"cis"`
	Requested int `json:"requested"`
}

// ErrNoSecret means webhooks are refused: no shared secret is configured.
var ErrNoSecret = errors.New("netbox webhooks are not configured: set DRIFTWATCH_NETBOX_WEBHOOK_SECRET")

// Verify checks a webhook's X-Hook-Signature against its raw body.
func (s *Sync) Verify(body []byte, signature string) error {
	if len(s.cfg.Secret) == 0 {
		return ErrNoSecret
	}
	return VerifySignature(s.cfg.Secret, body, signature)
}

// Webhook handles a webhook body (its signature checked by Verify, or its sender
// authenticated otherwise): what it touches is invalidated and judged again. A body that is
// not a NetBox webhook is a permanent error naming the problem.
func (s *Sync) Webhook(ctx context.Context, body []byte) (Change, error) {
	w, err := ParseWebhook(body)
	if err != nil {
		return Change{}, err
	}
	return s.apply(ctx, w.Touched, fmt.Sprintf("netbox webhook: %s %s", w.Model, w.Event))
}

// apply invalidates what t names and has the CIs it touches judged again.
func (s *Sync) apply(ctx context.Context, t Touched, reason string) (Change, error) {
	c := Change{All: t.All, Names: append([]string{}, t.Names...)}
	if !t.All && len(t.Names) == 0 {
		return c, nil
	}
	s.source.InvalidateTouched(t)
	var match func(enrich.CI) bool
	if !t.All {
		match = func(ci enrich.CI) bool { _, found := slices.BinarySearch(t.Names, ci.CIID); return found }
	}
	sw, err := s.reevaluate(ctx, reason, match)
	c.CIs, c.Requested = sw.CIs, sw.Requested
	if err != nil {
		return c, fmt.Errorf("judge again after %s: %w", reason, err)
	}
	return c, nil
}

// Run reads the change log every cfg.Every from the persisted cursor until ctx ends. A read
// that fails is logged and tried again at the next tick; the cursor moves only past changes
// that were applied.
func (s *Sync) Run(ctx context.Context) error {
	if s.cfg.CursorFile == "" {
		return errors.New("netbox sync: cursor file: required")
	}
	cursor, err := s.readCursor()
	if err != nil {
		return err
	}
	tick := time.NewTicker(s.cfg.Every)
	defer tick.Stop()
	for {
		next, err := s.catchUp(ctx, cursor)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("Reading NetBox's change log failed; trying again", zap.Int64("after", cursor), zap.Error(err))
		case next != cursor:
			if err := s.writeCursor(next); err != nil {
				return err
			}
			cursor = next
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// catchUp applies the change log after cursor and returns the new cursor.
func (s *Sync) catchUp(ctx context.Context, cursor int64) (int64, error) {
	t, next, err := s.source.Changes(ctx, cursor)
	if err != nil {
		return cursor, err
	}
	if next == cursor {
		return cursor, nil
	}
	c, err := s.apply(ctx, t, fmt.Sprintf("netbox change log after %d", cursor))
	if err != nil {
		return cursor, err
	}
	if c.Requested > 0 {
		s.log.Info("NetBox changes judged again", zap.Int64("after", cursor), zap.Int64("to", next),
			zap.Bool("all", c.All), zap.Int("names", len(c.Names)), zap.Int("requested", c.Requested))
	}
	return next, nil
}

func (s *Sync) readCursor() (int64, error) {
	raw, err := os.ReadFile(s.cfg.CursorFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("netbox sync: read cursor: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("netbox sync: cursor file %s holds %q, not a change id", s.cfg.CursorFile, raw)
	}
	return n, nil
}

// writeCursor replaces the cursor file atomically.
func (s *Sync) writeCursor(n int64) error {
	tmp := s.cfg.CursorFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(s.cfg.CursorFile), 0o750); err != nil {
		return fmt.Errorf("netbox sync: write cursor: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("netbox sync: write cursor: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d\n", n)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, s.cfg.CursorFile)
	}
	if err != nil {
		return fmt.Errorf("netbox sync: write cursor: %w", err)
	}
	return nil
}
