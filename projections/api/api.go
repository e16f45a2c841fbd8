// Package api is driftwatch's HTTP API (SPEC-080 and the template card): it accepts
// observations, serves drift events, CIs, policies, templates and the report from the read
// models, and records changes in the event store. Every write answers once the read models
// have applied it (read-your-writes); every error is an RFC 9457 problem.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// Emitter records and publishes facts; *record.Emitter implements it.
type Emitter interface {
	Emit(ctx context.Context, recs ...event.Record) error
}

// Waiter tells how far the read models are; *projections.Runner implements it.
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
	Position() eventstore.Position
}

// DriftReader is the drift read model; *drifts.Model implements it.
type DriftReader interface {
	List(f drifts.Filter, p drifts.Page) (drifts.List, error)
	Get(id string) (drifts.Drift, bool, error)
	CI(id string) (drifts.CI, bool, error)
	CIs() ([]drifts.CI, error)
	Report() (drifts.Report, error)
	Coverage(now time.Time, every time.Duration) (drifts.Coverage, error)
	Timeline(q drifts.TimelineQuery) (drifts.Timeline, error)
	Causes(f drifts.Filter) ([]drifts.Cause, error)
}

// StateReader reads a state by its hash; *states.Store implements it.
type StateReader interface {
	Get(ctx context.Context, hash string) (json.RawMessage, error)
}

// CatalogReader is the templates and policies read model; *catalog.Catalog implements it.
type CatalogReader interface {
	Template(id string) (drift.Template, bool)
	Templates() []drift.Template
	Policy(id string) (drift.Policy, bool)
	Policies() []drift.Policy
}

// Config configures the API.
type Config struct {
	// MaxBodyBytes limits request bodies; a larger one gets 413. Default 1 MiB.
	MaxBodyBytes int64
	// DefaultPageSize is the page size of listings without limit; default 50.
	DefaultPageSize int
	// MaxPageSize is the largest limit a listing accepts; default 500.
	MaxPageSize int
	// WaitTimeout bounds how long a write waits for the read models to apply it; default 10s.
	WaitTimeout time.Duration
	// EnrolToken, when set, is a bearer token that POST /agents takes in place of an admin
	// token, so that agents enrol themselves; default empty: only admins enrol agents.
	EnrolToken string
	// ExpectedInterval is the longest a CI may go without an observation and still count as
	// verified (coverage, GET /drift/cis); default 15 minutes.
	ExpectedInterval time.Duration
	// ReplayDir holds the temporary files of reads as of a past moment (as_of); default the
	// system's temporary directory.
	ReplayDir string
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.DefaultPageSize == 0 {
		c.DefaultPageSize = 50
	}
	if c.MaxPageSize == 0 {
		c.MaxPageSize = 500
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = 10 * time.Second
	}
	if c.ExpectedInterval == 0 {
		c.ExpectedInterval = 15 * time.Minute
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("max_body_bytes: %d must be positive", c.MaxBodyBytes))
	}
	if c.DefaultPageSize < 1 || c.DefaultPageSize > c.MaxPageSize {
		errs = append(errs, fmt.Errorf("default_page_size: %d must be between 1 and max_page_size %d", c.DefaultPageSize, c.MaxPageSize))
	}
	if c.WaitTimeout < 0 {
		errs = append(errs, fmt.Errorf("wait_timeout: %s must not be negative", c.WaitTimeout))
	}
	if c.ExpectedInterval < 0 {
		errs = append(errs, fmt.Errorf("expected_interval: %s must not be negative", c.ExpectedInterval))
	}
	return errors.Join(errs...)
}

// Deps are the API's collaborators. Now and NewID are optional; the others are required.
type Deps struct {
	// Store records policy and template changes and holds the drift ledgers.
	Store eventstore.Store
	// Emitter records and publishes observations, acknowledgements and reconcile requests.
	Emitter Emitter
	// Runner is the projections runner the read models below belong to.
	Runner Waiter
	// Drifts and Catalog are the read models the API serves.
	Drifts  DriftReader
	Catalog CatalogReader
	// Agents is the enrolled-agents read model.
	Agents AgentDirectory
	// Door admits observations (POST /observations).
	Door Door
	// Reconciler sweeps the CIs (POST /drift/reconcile).
	Reconciler Reconciler
	// States reads states by hash, to show a CI's last observed state.
	States StateReader
	// Tokens authenticates bearer tokens; TokenCommands creates and revokes them.
	Tokens        Authenticator
	TokenCommands TokenCommands
	// TokenList lists tokens (GET /tokens).
	TokenList TokenLister
	// Facts reads Ansible facts documents (POST /facts); optional (nil: 409).
	Facts FactsReader
	// NetBox takes NetBox's webhooks; optional (nil: POST /webhooks/netbox answers 409).
	NetBox NetBoxHook
	// Templates, Policies, Acknowledgements and Actions decide template and policy changes,
	// acknowledgements and action requests (see commands.go).
	Templates        TemplateCommands
	Policies         PolicyCommands
	Acknowledgements AckCommands
	Actions          ActionCommands
	// Metrics is the process's Prometheus registry: GET /metrics serves it, and the API adds
	// its request durations to it.
	Metrics *prometheus.Registry
	// Logger receives one line per failed request.
	Logger *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID returns a fresh UUID; default uuid.NewString.
	NewID func() string
}

func (d *Deps) check() error {
	var errs []error
	for _, dep := range []struct {
		name    string
		missing bool
	}{
		{"store", d.Store == nil}, {"emitter", d.Emitter == nil}, {"runner", d.Runner == nil},
		{"drifts", d.Drifts == nil}, {"catalog", d.Catalog == nil}, {"agents", d.Agents == nil}, {"logger", d.Logger == nil},
		{"door", d.Door == nil}, {"reconciler", d.Reconciler == nil}, {"states", d.States == nil},
		{"tokens", d.Tokens == nil}, {"token commands", d.TokenCommands == nil}, {"token list", d.TokenList == nil},
		{"metrics", d.Metrics == nil},
		{"templates", d.Templates == nil}, {"policies", d.Policies == nil},
		{"acknowledgements", d.Acknowledgements == nil}, {"actions", d.Actions == nil},
	} {
		if dep.missing {
			errs = append(errs, fmt.Errorf("%s: required", dep.name))
		}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = uuid.NewString
	}
	return errors.Join(errs...)
}

// api holds what every handler needs.
type api struct {
	cfg Config
	Deps
	// replays lets one read as of a past moment rebuild its read models at a time.
	replays chan struct{}
	// watch is the one subscription that requests waiting for an action's outcome share.
	watch *eventstore.Watch
}

// New returns the API's handler. It refuses a bad config and missing deps.
func New(cfg Config, deps Deps) (http.Handler, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), deps.check()); err != nil {
		return nil, fmt.Errorf("new api: %w", err)
	}
	a := &api{cfg: cfg, Deps: deps, replays: make(chan struct{}, 1), watch: eventstore.NewWatch(deps.Store)}
	hm, err := newHTTPMetrics(deps.Metrics)
	if err != nil {
		return nil, fmt.Errorf("new api: %w", err)
	}
	if err := registerWaiters(deps.Metrics, a.watch); err != nil {
		return nil, fmt.Errorf("new api: %w", err)
	}
	mux := http.NewServeMux()
	for _, rt := range a.table() {
		mux.Handle(rt.Pattern(), hm.timed(rt, a.wrap(a.guard(rt))))
	}
	return problemMux{mux}, nil
}
