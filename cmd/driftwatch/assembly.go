package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/gitdir"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/handlers/enrich/template"
	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/esdb"
	"github.com/driftwatch/driftwatch/pipeline/record"
	"github.com/driftwatch/driftwatch/pipeline/router"
	"github.com/driftwatch/driftwatch/pipeline/states"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/counters"
	"github.com/driftwatch/driftwatch/projections/drifts"
	"github.com/driftwatch/driftwatch/projections/tokens"
)

// app is one process's shared parts, built once by assemble for every role it runs: the
// event store, the bus, the emitter, the states, the read models the roles need, the ingest
// door and the router the stages join. Roles only use what it holds.
type app struct {
	cfg config
	log *zap.Logger
	now func() time.Time

	store   eventstore.Store
	bus     bus.Bus
	emitter *record.Emitter
	states  *states.Store
	router  *router.Router

	// The read models, when a role needs them, all kept by one runner.
	runner   *projections.Runner
	drifts   *drifts.Model
	catalog  *catalog.Catalog
	agents   *agents.Model
	tokens   *tokens.Model
	counters *counters.Model

	// metrics is the process's Prometheus registry (GET /metrics).
	metrics *prometheus.Registry

	ingest    *ingest.Ingest
	desired   enrich.DesiredSource
	netbox    *netbox.Source // nil without --netbox-url
	gitdir    *gitdir.Source // nil without --templates-dir
	dockerCli *client.Client
	// planner is the action planner, built once: the action and notify stages share it and
	// its change calendar cache (see (*app).planner).
	actionPlanner *action.Planner

	// background are loops the stages need beside their router handlers (the remediation
	// re-check), run until the process stops.
	background []func(ctx context.Context) error

	closers []io.Closer // closed in reverse order
}

// models are the read models a process keeps.
type models struct{ drifts, catalog, agents, tokens, counters bool }

// assemble builds the shared parts for process name (serve, or worker-<role>), with the read
// models it needs. Close it when done.
func assemble(c config, log *zap.Logger, name string, need models) (_ *app, err error) {
	a := &app{cfg: c, log: log, now: time.Now, metrics: newRegistry()}
	defer func() {
		if err != nil {
			a.Close() // what was opened before the error
		}
	}()
	as, err := agentSettingsFromEnv()
	if err != nil {
		return nil, err
	}
	if a.store, err = openStore(c, log); err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	a.closers = append(a.closers, a.store)
	if a.store, err = observeAppends(a.metrics, a.store); err != nil {
		return nil, err
	}
	if a.bus, err = openBus(c, a.store, name, log); err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	a.closers = append(a.closers, a.bus)
	var opts []record.Option
	if c.RedisURL == "" {
		opts = append(opts, record.FromStore())
	}
	if a.emitter, err = record.NewEmitter(a.store, a.bus.Publisher(), opts...); err != nil {
		return nil, err
	}
	if a.states, err = states.New(states.Config{}, a.store); err != nil {
		return nil, err
	}
	if a.router, err = router.New(router.Config{Metrics: a.metrics}, a.bus, a.emitter, log.Named("router")); err != nil {
		return nil, err
	}
	// The embedded store is held by one process, whose one Ingest is then the only writer of
	// the observation streams.
	soleWriter := c.EventStoreURL == ""
	if a.ingest, err = ingest.New(ingest.Config{RequireSigned: as.RequireSigned, UnchangedEvery: c.UnchangedEvery, SoleWriter: soleWriter}, ingest.Deps{
		Store: a.store, States: a.states, Logger: log.Named("ingest"), Now: a.now,
	}); err != nil {
		return nil, err
	}
	if err := a.openModels(name, need); err != nil {
		return nil, err
	}
	if err := a.metrics.Register(newStateCollector(a)); err != nil {
		return nil, err
	}
	return a, nil
}

// openModels opens the read models a process needs in one file: projections.db for serve,
// <name>.db for a worker.
func (a *app) openModels(name string, need models) error {
	var projs []projections.Projection
	if need.drifts {
		a.drifts = drifts.New()
		projs = append(projs, a.drifts)
	}
	if need.catalog {
		a.catalog = catalog.New()
		projs = append(projs, a.catalog)
	}
	if need.agents {
		a.agents = agents.New()
		projs = append(projs, a.agents)
	}
	if need.tokens {
		a.tokens = tokens.New()
		projs = append(projs, a.tokens)
	}
	if need.counters {
		a.counters = counters.New()
		projs = append(projs, a.counters)
	}
	if len(projs) == 0 {
		return nil
	}
	file := "projections.db"
	if name != "serve" {
		file = name + ".db"
	}
	r, err := projections.New(projections.Config{Path: filepath.Join(a.cfg.DataDir, file)},
		projections.Deps{Store: a.store, Logger: a.log.Named("projections")}, projs...)
	if err != nil {
		return fmt.Errorf("open read models: %w", err)
	}
	a.runner = r
	a.closers = append(a.closers, r)
	if a.catalog != nil {
		templates, err := template.New(a.catalog, r)
		if err != nil {
			return err
		}
		// The one precedence rule: NetBox, then the templates directory, then the API's
		// templates (enrich.Precedence).
		var sources enrich.Precedence
		if a.netbox, err = netboxSource(a.cfg); err != nil {
			return err
		}
		if a.netbox != nil {
			sources = append(sources, a.netbox)
		}
		if a.cfg.TemplatesDir != "" {
			if a.gitdir, err = gitdir.New(a.cfg.TemplatesDir); err != nil {
				return fmt.Errorf("--templates-dir: %w", err)
			}
			for _, e := range a.gitdir.Errors() {
				a.log.Error("Template file refused; its last good version stays in force", zap.Error(e))
			}
			sources = append(sources, a.gitdir)
		}
		a.desired = templates
		if len(sources) > 0 {
			a.desired = append(sources, templates)
		}
	}
	return nil
}

// netboxSource is the NetBox desired-state source when --netbox-url is set.
func netboxSource(c config) (*netbox.Source, error) {
	if c.NetBoxURL == "" {
		return nil, nil
	}
	token := os.Getenv("DRIFTWATCH_NETBOX_TOKEN")
	if token == "" {
		return nil, errors.New("--netbox-url: DRIFTWATCH_NETBOX_TOKEN must hold a NetBox API token")
	}
	return netbox.New(netbox.Config{URL: c.NetBoxURL, Token: token, CacheTTL: c.NetBoxCacheTTL})
}

// Close releases everything, the last opened first.
func (a *app) Close() {
	for _, c := range slices.Backward(a.closers) {
		closeLogged(a.log, c)
	}
}

// openStore opens EventStoreDB when configured, else the embedded store in the data dir.
func openStore(c config, log *zap.Logger) (eventstore.Store, error) {
	if c.EventStoreURL != "" {
		log.Info("Using EventStoreDB")
		return esdb.Open(esdb.Config{URL: c.EventStoreURL})
	}
	dir := filepath.Join(c.DataDir, "events")
	log.Info("Using the embedded event store", zap.String("dir", dir))
	return bolt.Open(bolt.Config{Dir: dir})
}

// openBus opens Redis Streams when configured, else the embedded bus that follows the store.
func openBus(c config, store eventstore.Store, role string, log *zap.Logger) (bus.Bus, error) {
	if c.RedisURL == "" {
		path := filepath.Join(c.DataDir, "bus.db")
		log.Info("Using the embedded bus", zap.String("checkpoints", path))
		return embedded.Open(embedded.Config{Store: store, Path: path, Logger: router.NewLogger(log)})
	}
	consumer := c.Consumer
	if consumer == "" {
		var err error
		if consumer, err = redisbus.DefaultConsumer(role); err != nil {
			return nil, fmt.Errorf("name the redis consumer: %w", err)
		}
	}
	log.Info("Using Redis Streams", zap.String("consumer", consumer))
	return redisbus.New(redisbus.Config{URL: c.RedisURL, Consumer: consumer, MaxIdleTime: c.RedisClaimIdle, TrimInterval: c.RedisTrimInterval, ClaimInterval: min(redisbus.DefaultClaimInterval, c.RedisClaimIdle/2), Logger: router.NewLogger(log)})
}

// newLogger builds the process's zap logger at the configured level.
func newLogger(level string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, err
	}
	cfg.Level = lvl
	cfg.Sampling = nil
	// Stack traces are for bugs (DPanic and above), not for failures that are expected,
	// such as a server that cannot be reached.
	return cfg.Build(zap.AddStacktrace(zap.DPanicLevel))
}

func closeLogged(log *zap.Logger, c io.Closer) {
	if err := c.Close(); err != nil && !errors.Is(err, errAlreadyClosed) {
		log.Warn("Close failed", zap.Error(err))
	}
}

var errAlreadyClosed = errors.New("already closed")

// followTemplatesDir reads --templates-dir again every --templates-every until ctx ends,
// calling changed after a change of a template in force.
func (a *app) followTemplatesDir(ctx context.Context, changed func(commit string)) {
	if a.gitdir == nil {
		return
	}
	a.gitdir.Follow(ctx, a.cfg.TemplatesEvery, changed, func(err error) {
		a.log.Error("Template file refused; its last good version stays in force", zap.Error(err))
	})
}
