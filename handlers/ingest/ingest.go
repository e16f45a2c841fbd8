// Package ingest is the first stage, and the door: it validates and normalises raw
// observations, checks the credentials of the agents that sign them, and owns each CI's
// observation stream (observation-<ci_id>), on which it records what changed.
//
// Cost per message: a strict one-pass check and canonicalisation of the state (skipped when
// the state's bytes repeat the CI's last ones), one SHA-256 of it, one read of the stream's
// last event, and for a changed state one AppendMany of the state (once per distinct state)
// and an ObservationReceived_v2 that refers to it by hash. A state the CI is already in adds
// at most one small ObservationUnchanged_v1 per Config.UnchangedEvery and nothing downstream.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/states"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// Name is the stage's consumer group; Topic is what it consumes.
const (
	Name  = "ingest"
	Topic = topic.Observations
)

// Config tunes ingest. The zero value is the default.
type Config struct {
	// RequireSigned rejects observations that no enrolled agent signed; default off, so that
	// unsigned sources (curl, scripts) work.
	RequireSigned bool
	// UnchangedEvery is how often, at most, an observation that repeats a CI's state is
	// recorded (ObservationUnchanged_v1, for coverage); the repeats in between are counted
	// into the next one. Default 1m; negative records every one.
	UnchangedEvery time.Duration
	// MaxFutureSkew refuses observations whose observed_at is further in the future than
	// this; default 5m.
	MaxFutureSkew time.Duration
	// CachedCIs bounds the per-CI cache of last states; default 200,000.
	CachedCIs int
	// SoleWriter says that this Ingest is the only writer of the observation streams, as on
	// the embedded store, which one process holds: a cached CI is then decided without reading
	// its stream's head first. Leave it off wherever ingest runs in more than one process (a
	// shared event store); the expected revision catches a stale cache either way.
	SoleWriter bool
}

func (c *Config) setDefaults() {
	if c.UnchangedEvery == 0 {
		c.UnchangedEvery = time.Minute
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = 5 * time.Minute
	}
	if c.CachedCIs == 0 {
		c.CachedCIs = 200_000
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max future skew: %s must not be negative", c.MaxFutureSkew))
	}
	if c.CachedCIs < 1 {
		errs = append(errs, fmt.Errorf("cached cis: %d must be at least 1", c.CachedCIs))
	}
	return errors.Join(errs...)
}

// Deps are what ingest works with.
type Deps struct {
	// Store holds the observation streams and the agents' credentials; required.
	Store eventstore.Store
	// States records and reads states by hash; required.
	States *states.Store
	// Credentials looks up enrolled agents; default: their streams in Store.
	Credentials Credentials
	// Logger logs each rejected observation once, at Warn; required.
	Logger *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Ingest is the ingest stage and door. It is safe for concurrent use: observations of one CI
// are decided one at a time, and writers in other processes are caught by the observation
// stream's expected revision.
type Ingest struct {
	cfg    Config
	deps   Deps
	cis    *ciCache
	raw    *rawCache
	logged *onceLog
}

// New returns the ingest stage; it refuses a bad config and missing deps.
func New(cfg Config, deps Deps) (*Ingest, error) {
	cfg.setDefaults()
	errs := []error{cfg.Validate()}
	if deps.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if deps.States == nil {
		errs = append(errs, errors.New("states: required"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new ingest: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Credentials == nil {
		deps.Credentials = StoreCredentials{Store: deps.Store}
	}
	return &Ingest{cfg: cfg, deps: deps, cis: newCICache(cfg.CachedCIs), raw: newRawCache(cfg.CachedCIs), logged: newOnceLog(4096)}, nil
}

// Handle implements router.Stage for observations submitted on the observations topic. It
// returns what to publish: an ObservationReceived_v2 when the CI's state changed (already
// recorded, with its position), an ObservationRejected_v1 to record, or nothing. Invalid
// observations fail permanently with every bad field named.
func (s *Ingest) Handle(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
	out, err := s.Submit(ctx, in)
	return out.Records, err
}

// Status is what became of a submitted observation.
type Status string

// Statuses of Outcome.
const (
	// StatusChanged: the CI's state changed; the observation goes on to be evaluated.
	StatusChanged Status = "accepted"
	// StatusUnchanged: the CI is still in the state it was in; it counts as verified.
	StatusUnchanged Status = "unchanged"
	// StatusDuplicate: this very observation was accepted before.
	StatusDuplicate Status = "duplicate"
	// StatusSuperseded: the CI was observed later than this already; it changes nothing.
	StatusSuperseded Status = "superseded"
	// StatusRejected: its credentials do not allow it (see Outcome.Rejection).
	StatusRejected Status = "rejected"
)

// Outcome is the decision on one submitted observation.
type Outcome struct {
	Status Status
	// ObservationID is the observation's id (the source's, or one derived from its content).
	ObservationID string
	// StateHash is the CI's state after the observation.
	StateHash string
	// Rejection is set for StatusRejected.
	Rejection *event.ObservationRejected_v1
	// Records are the facts to hand to the emitter: those ingest recorded itself carry
	// their position (publish only), a rejection does not (record and publish).
	Records []event.Record
}

// Published tells ingest that the records of an Outcome were emitted (published where the bus
// publishes), so that the same observation submitted again is a duplicate with nothing to
// publish: a thousand identical POSTs publish once. Without it a duplicate is published again,
// as at-least-once delivery needs after a failure.
func (s *Ingest) Published(out Outcome) {
	for _, r := range out.Records {
		f, ok := r.Fact.(event.ObservationReceived_v2)
		if !ok {
			continue
		}
		unlock := s.cis.lock(f.CIID)
		if e := s.cis.get(f.CIID); e != nil && e.lastID == r.ID {
			e.published = true
		}
		unlock()
	}
}

// Submit decides one submitted observation, as the HTTP door and Handle both do: check,
// normalise, compare with the CI's last state, and record. Bad input is a fault.Permanent
// error naming every bad field; a rejected observation is an Outcome, not an error.
func (s *Ingest) Submit(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) (Outcome, error) {
	obs, err := s.admit(in)
	if err != nil {
		return Outcome{}, err
	}
	if out, rejected, err := s.checkCredentials(ctx, in, obs); err != nil || rejected {
		return out, err
	}
	return s.record(ctx, in, obs)
}
