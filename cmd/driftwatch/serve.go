package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/handlers/source/streams"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/projections/api"
	"github.com/driftwatch/driftwatch/projections/tokens"
)

// shutdownTimeout bounds the HTTP server's graceful shutdown.
const shutdownTimeout = 10 * time.Second

// serve runs the read models, the HTTP API and the configured stages in one process.
func serve(ctx context.Context, c config, log *zap.Logger) error {
	names := c.stageList()
	// On the embedded bus every observation comes through the door (HTTP, in-process
	// sources): nothing is submitted on the observations topic to ingest.
	if c.RedisURL == "" {
		names = without(names, "ingest")
	}
	ss, err := pick(names)
	if err != nil {
		return err
	}
	need := needs(ss)
	need.drifts, need.catalog, need.agents, need.tokens, need.counters = true, true, true, true, true
	a, err := assemble(c, log, "serve", need)
	if err != nil {
		return err
	}
	defer a.Close()
	as, err := agentSettingsFromEnv()
	if err != nil {
		return err
	}
	// Reads as of a past moment rebuild read models in files of their own; a crash may leave
	// some behind.
	replayDir := filepath.Join(cmp.Or(c.DataDir, os.TempDir()), "as-of")
	if err := errors.Join(os.RemoveAll(replayDir), os.MkdirAll(replayDir, 0o700)); err != nil {
		return fmt.Errorf("as-of directory: %w", err)
	}
	tokenCmds := command.Tokens{Store: a.store, Now: a.now}
	if err := bootstrapAdmin(ctx, tokenCmds, c.DataDir, log); err != nil {
		return err
	}
	// Catch up before the stages start, so that they see every template and policy.
	if err := a.runner.CatchUp(ctx); err != nil {
		return fmt.Errorf("catch up read models: %w", err)
	}
	for _, s := range ss {
		if err := s.add(a); err != nil {
			return fmt.Errorf("add stage %s: %w", s.name, err)
		}
	}
	watcher, err := a.watcher()
	if err != nil {
		return err
	}
	rec, err := enrich.NewReconciler(enrich.ReconcilerDeps{CIs: reconcileCIs{a}, Source: a.desired, Policies: catalogPolicies{a}, Emitter: a.emitter, Now: a.now})
	if err != nil {
		return err
	}
	follower, err := enrich.NewFollower(enrich.FollowerDeps{Store: a.store, Reconciler: rec, WaitFor: a.runner.WaitFor,
		Logger: log.Named("reevaluate"), Now: a.now})
	if err != nil {
		return err
	}
	facts, err := factsReader(c)
	if err != nil {
		return err
	}
	inputs, err := inputStreams(c, a, facts, log)
	if err != nil {
		return err
	}
	var nbSync *netbox.Sync
	var nbHook api.NetBoxHook
	if a.netbox != nil {
		nbSync, err = netbox.NewSync(netbox.SyncConfig{
			Secret:     []byte(os.Getenv("DRIFTWATCH_NETBOX_WEBHOOK_SECRET")),
			CursorFile: filepath.Join(cmp.Or(c.DataDir, "."), "netbox-changes.cursor"),
			Every:      c.NetBoxChangesEvery,
		}, a.netbox, rec.Reconcile, log.Named("netbox"))
		if err != nil {
			return err
		}
		nbHook = netboxHook{nbSync}
	}
	h, err := api.New(api.Config{EnrolToken: as.EnrolToken, ExpectedInterval: c.ExpectedInterval, ReplayDir: replayDir}, api.Deps{
		Store: a.store, Emitter: a.emitter, Runner: a.runner, Drifts: a.drifts, Catalog: a.catalog, Agents: a.agents,
		Door: door{a.ingest}, Reconciler: sweeper{rec}, States: a.states,
		Tokens: tokens.Verifier{Store: a.store}, TokenCommands: tokenCmds, TokenList: a.tokens, Metrics: a.metrics, Logger: log.Named("api"), NetBox: nbHook, Facts: facts,
		Templates: command.Templates{Store: a.store, Now: a.now}, Policies: command.Policies{Store: a.store, Now: a.now},
		Acknowledgements: command.Acknowledgements{Store: a.store, Now: a.now}, Actions: command.Actions{Store: a.store, Now: a.now},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.HTTPAddr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}

	g, ctx := errgroup.WithContext(ctx)
	if c.PprofAddr != "" {
		if err := servePprof(ctx, g, c.PprofAddr, log); err != nil {
			return err
		}
	}
	g.Go(func() error { return a.runner.Run(ctx) })
	g.Go(func() error { return follower.Run(ctx) })
	if nbSync != nil {
		g.Go(func() error { return nbSync.Run(ctx) })
	}
	if inputs != nil {
		g.Go(func() error { return inputs.Run(ctx) })
	}
	g.Go(func() error {
		a.followTemplatesDir(ctx, func(commit string) {
			reason := "templates directory changed"
			if commit != "" {
				reason += " (commit " + commit + ")"
			}
			if sw, err := rec.Reconcile(ctx, reason, nil); err != nil && ctx.Err() == nil {
				log.Warn("Re-evaluation after a templates directory change failed", zap.Error(err))
			} else if sw.Requested > 0 {
				log.Info("Re-evaluating CIs after a templates directory change", zap.String("reason", reason), zap.Int("requested", sw.Requested))
			}
		})
		return nil
	})
	if len(ss) > 0 {
		g.Go(func() error { return a.router.Run(ctx) })
	}
	for _, run := range a.background {
		g.Go(func() error { return run(ctx) })
	}
	if watcher != nil {
		g.Go(func() error { return watcher.Run(ctx) })
	}
	g.Go(func() error {
		log.Info("Serving HTTP API", zap.String("addr", ln.Addr().String()), zap.Strings("stages", names))
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		log.Info("Shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		// The stages stop with ctx: their subscriptions end, in-flight messages are nacked
		// and redelivered later, and the router closes itself.
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// inputStreams is the consumer of SPEC-080's input streams (drift.file_changed,
// vm.power_changed, network.changed, ansible.facts_collected) when serve runs over Redis.
func inputStreams(c config, a *app, facts ansible.Reader, log *zap.Logger) (*streams.Consumer, error) {
	if c.RedisURL == "" {
		return nil, nil
	}
	opts, err := goredis.ParseURL(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	rdb := goredis.NewClient(opts)
	a.closers = append(a.closers, rdb)
	consumer := c.Consumer
	if consumer == "" {
		if consumer, err = redisbus.DefaultConsumer(streams.Group); err != nil {
			return nil, err
		}
	}
	return streams.NewConsumer(streams.Config{Consumer: consumer, Facts: facts}, rdb, submitter{a}, log.Named("input-streams"))
}

// factsReader reads Ansible facts documents, with the compliance rules of --compliance-rules.
func factsReader(c config) (ansible.Reader, error) {
	if c.ComplianceRules == "" {
		return ansible.Reader{}, nil
	}
	raw, err := os.ReadFile(c.ComplianceRules)
	if err != nil {
		return ansible.Reader{}, fmt.Errorf("--compliance-rules: %w", err)
	}
	rules, err := ansible.LoadRules(raw, c.ComplianceRules)
	if err != nil {
		return ansible.Reader{}, fmt.Errorf("--compliance-rules: %w", err)
	}
	return ansible.Reader{Rules: rules}, nil
}

// bootstrapAdmin makes sure an admin can get in: DRIFTWATCH_ADMIN_TOKEN, or on the first
// start of a store an admin token written to a 0600 file in the data dir, whose path is logged.
func bootstrapAdmin(ctx context.Context, t command.Tokens, dataDir string, log *zap.Logger) error {
	env := os.Getenv("DRIFTWATCH_ADMIN_TOKEN")
	file, err := t.Bootstrap(ctx, env, dataDir)
	if err != nil {
		return fmt.Errorf("bootstrap the admin token: %w", err)
	}
	if file != "" {
		log.Info("Wrote the first admin token; read it, then keep it safe", zap.String("file", file))
	}
	return nil
}

// worker runs one stage alone over Redis Streams and the shared event store, so that stages
// scale out as processes.
func worker(ctx context.Context, c config, log *zap.Logger) error {
	role := c.Stages
	if c.RedisURL == "" {
		return errors.New("--redis: a worker runs over Redis Streams; the embedded bus serves a single process (use serve)")
	}
	if role == "docker-source" {
		return dockerSourceWorker(ctx, c, log)
	}
	if c.EventStoreURL == "" {
		return errors.New("--eventstore: a worker needs the event store every process shares (esdb://...); the embedded store belongs to one process (use serve)")
	}
	ss, err := pick([]string{role})
	if err != nil {
		return err
	}
	a, err := assemble(c, log, "worker-"+role, needs(ss))
	if err != nil {
		return err
	}
	defer a.Close()
	g, ctx := errgroup.WithContext(ctx)
	if a.runner != nil {
		if err := a.runner.CatchUp(ctx); err != nil {
			return fmt.Errorf("catch up read models: %w", err)
		}
		g.Go(func() error { return a.runner.Run(ctx) })
	}
	for _, s := range ss {
		if err := s.add(a); err != nil {
			return fmt.Errorf("add stage %s: %w", s.name, err)
		}
	}
	g.Go(func() error { a.followTemplatesDir(ctx, func(string) {}); return nil })
	log.Info("Running worker", zap.String("stage", role))
	g.Go(func() error { return a.router.Run(ctx) })
	for _, run := range a.background {
		g.Go(func() error { return run(ctx) })
	}
	return g.Wait()
}

// servePprof serves net/http/pprof on addr until ctx ends.
func servePprof(ctx context.Context, g *errgroup.Group, addr string, log *zap.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("Serving pprof", zap.String("addr", ln.Addr().String()))
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve pprof: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		return srv.Close()
	})
	return nil
}

func without(names []string, name string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}
