// Package docker is the Docker event source (SPEC-080's first detection source). It follows
// the daemon's event stream and reports the power state and networks of every container
// labelled as a CI as an observation on the observations topic; the pipeline does the rest.
//
// A container is a CI when it carries the label io.driftwatch.ci (its value is the ci_id);
// io.driftwatch.ci_type sets the ci_type (default "container") and io.driftwatch.template_id
// names the template holding its desired state. Each observation has the state
//
//	{"power_state": "running" | "stopped" | "paused" | "removed", "networks": [sorted names]}
//
// with source "docker" and the scope power_state and networks.
package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/system"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

// Labels that make a container a CI.
const (
	// LabelCI names the CI a container is; containers without it are not watched.
	LabelCI = "io.driftwatch.ci"
	// LabelCIType sets the CI's ci_type; default DefaultCIType.
	LabelCIType = "io.driftwatch.ci_type"
	// LabelTemplate names the template that holds the CI's desired state.
	LabelTemplate = "io.driftwatch.template_id"
)

// DefaultCIType is the ci_type of a container without LabelCIType.
const DefaultCIType = "container"

// Source is the observations' source name.
const Source = "docker"

// Daemon is what the watcher asks of the Docker daemon; *client.Client implements it.
type Daemon interface {
	Info(ctx context.Context) (system.Info, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
}

// Emitter publishes observations; *record.Emitter implements it.
type Emitter interface {
	Emit(ctx context.Context, recs ...event.Record) error
}

// Config tunes the watcher. The zero value is the default.
type Config struct {
	// Selector lists label requirements, "key" or "key=value", that a container labelled as
	// a CI must also meet to be watched (one driftwatch per environment on a shared daemon);
	// default none.
	Selector []string
	// Debounce is how long events are gathered before the containers they name are
	// inspected, so that a burst costs one inspection per container and the latest state
	// wins; default 50ms.
	Debounce time.Duration
	// ResyncInterval is how often every labelled container is inspected even without events,
	// in case the daemon dropped some; default 5m, negative turns it off.
	ResyncInterval time.Duration
	// StoppedInterval is how often the containers last reported stopped are inspected,
	// because the daemon emits no event when a stopped container is connected to a network
	// (it does tell a disconnect); default 5s, negative turns it off. Each costs one
	// inspection per interval, and a report only when its networks changed.
	StoppedInterval time.Duration
	// LagThreshold: an event delivered this long after the daemon emitted it, or a pause of
	// the watcher this long (SIGSTOP, starvation), means the daemon may have dropped events
	// for this slow subscriber, so the watcher inspects every labelled container; default 2s.
	LagThreshold time.Duration
	// MinBackoff is the first wait before reconnecting after the event stream broke
	// (default 100ms); it doubles up to MaxBackoff (default 10s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

func (c *Config) setDefaults() {
	if c.Debounce == 0 {
		c.Debounce = 50 * time.Millisecond
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = 5 * time.Minute
	}
	if c.StoppedInterval == 0 {
		c.StoppedInterval = 5 * time.Second
	}
	if c.LagThreshold == 0 {
		c.LagThreshold = 2 * time.Second
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for i, s := range c.Selector {
		if k, _, _ := strings.Cut(s, "="); strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("selector[%d]: %q must be key or key=value", i, s))
		}
	}
	if c.Debounce < 0 {
		errs = append(errs, fmt.Errorf("debounce: %s must not be negative", c.Debounce))
	}
	if c.LagThreshold < 0 {
		errs = append(errs, fmt.Errorf("lag threshold: %s must not be negative", c.LagThreshold))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("backoff: need 0 <= min <= max"))
	}
	return errors.Join(errs...)
}

// Deps are the watcher's collaborators; Now is optional (default time.Now).
type Deps struct {
	// Daemon is the Docker daemon to follow.
	Daemon Daemon
	// Emitter publishes the observations.
	Emitter Emitter
	// Logger receives lifecycle lines (connected, reconnecting, full inspections).
	Logger *zap.Logger
	// Now is the clock of observation times and event lag; default time.Now.
	Now func() time.Time
}

// Watcher follows one daemon. Run it once; it is not meant for concurrent Runs.
//
// No event is missed for good: on every (re)connection it subscribes first, from the daemon's
// current time so that the daemon replays anything emitted before the subscription took, and
// then lists and inspects every labelled container and reports each; a broken stream is
// reopened with backoff; a lagging stream, a paused watcher and the resync interval trigger a
// full inspection again; the stopped containers, whose network connects come without an
// event, are inspected every StoppedInterval. Between those, a container is inspected after each burst of its
// events and reported when its state changed, so reports are coalesced and the latest state
// wins. Observation times are strictly increasing, and ids derive from the container, the
// observation time and the state hash, so each observation has one id wherever it travels.
type Watcher struct {
	cfg     Config
	sel     selector
	daemon  Daemon
	emitter Emitter
	log     *zap.Logger
	now     func() time.Time

	// Owned by the Run goroutine.
	known   map[string]report // last reported state by container id
	lastAt  time.Time         // last observation time, kept strictly increasing
	backoff time.Duration     // the next wait before reconnecting
	lastErr string            // the last failure logged, so that a repeating one is logged once
}

// New returns a watcher; it refuses a bad config and missing deps.
func New(cfg Config, deps Deps) (*Watcher, error) {
	cfg.setDefaults()
	errs := []error{cfg.Validate()}
	if deps.Daemon == nil {
		errs = append(errs, errors.New("daemon: required"))
	}
	if deps.Emitter == nil {
		errs = append(errs, errors.New("emitter: required"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new docker watcher: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Watcher{
		cfg: cfg, sel: parseSelector(cfg.Selector), daemon: deps.Daemon, emitter: deps.Emitter, log: deps.Logger, now: deps.Now,
		known: map[string]report{},
	}, nil
}

// Run follows the daemon until ctx ends, reconnecting with backoff whenever the event stream
// or a report fails. It returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	w.backoff = w.cfg.MinBackoff
	for {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := w.backoff
		w.backoff = min(2*w.backoff, w.cfg.MaxBackoff)
		if msg := err.Error(); msg != w.lastErr {
			w.log.Info("Docker event stream broke; reconnecting", zap.Error(err), zap.Duration("backoff", wait))
			w.lastErr = msg
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
