// Package router runs pipeline stages over a bus: a watermill router with driftwatch's
// standard middleware (poison queue, then retry with backoff, then panic recovery) and the
// typed-stage adapter that decodes facts, calls Handle, and records and publishes the output.
package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/record"
)

// Config tunes the router.
type Config struct {
	// CloseTimeout bounds how long Close waits for running handlers; default 30s.
	CloseTimeout time.Duration
	// MaxRetries is how often a retryable failure is retried before the message is parked in
	// the poison stream; default 5.
	MaxRetries int
	// InitialInterval is the first backoff; default 100ms. It doubles up to MaxInterval
	// (default 5s).
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// Metrics, when set, receives Watermill's router metrics: per handler (stage) the
	// messages received and the handler execution time by outcome (driftwatch_router_*).
	Metrics prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.InitialInterval == 0 {
		c.InitialInterval = 100 * time.Millisecond
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = 5 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.CloseTimeout < 0 {
		errs = append(errs, errors.New("close timeout: must not be negative"))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, errors.New("max retries: must not be negative"))
	}
	if c.InitialInterval < 0 || c.MaxInterval < c.InitialInterval {
		errs = append(errs, errors.New("retry intervals: need 0 <= initial <= max"))
	}
	return errors.Join(errs...)
}

// Router runs stages. Build it with New, add stages with Add, then Run.
type Router struct {
	wm      *message.Router
	bus     bus.Bus
	emitter *record.Emitter
	log     *zap.Logger
}

// New builds a router over b whose stages emit through emitter.
func New(cfg Config, b bus.Bus, emitter *record.Emitter, log *zap.Logger) (*Router, error) {
	cfg.setDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if b == nil {
		errs = append(errs, errors.New("bus: required"))
	}
	if emitter == nil {
		errs = append(errs, errors.New("emitter: required"))
	}
	if log == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	wm, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, NewLogger(log))
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	retry := middleware.Retry{
		MaxRetries:      cfg.MaxRetries,
		InitialInterval: cfg.InitialInterval,
		MaxInterval:     cfg.MaxInterval,
		Multiplier:      2,
		ShouldRetry: func(p middleware.RetryParams) bool {
			return !fault.IsPermanent(p.Err) && !errors.Is(p.Err, context.Canceled)
		},
	}
	if cfg.Metrics != nil {
		metrics.NewPrometheusMetricsBuilder(cfg.Metrics, "driftwatch", "router").AddPrometheusRouterMetrics(wm)
	}
	wm.AddMiddleware(
		poisonQueue{pub: b.Publisher(), log: log}.Middleware,
		retry.Middleware,
		middleware.Recoverer,
	)
	return &Router{wm: wm, bus: b, emitter: emitter, log: log}, nil
}

// Run runs every added stage until ctx ends or Close is called.
func (r *Router) Run(ctx context.Context) error { return r.wm.Run(ctx) }

// Running is closed once every stage subscribed.
func (r *Router) Running() chan struct{} { return r.wm.Running() }

// Close stops the stages, waiting up to the close timeout for running handlers.
func (r *Router) Close() error { return r.wm.Close() }
