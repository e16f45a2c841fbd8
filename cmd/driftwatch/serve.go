package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/driftwatch/driftwatch/pipeline/record"
	"github.com/driftwatch/driftwatch/pipeline/router"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/api"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// shutdownTimeout bounds the HTTP server's graceful shutdown.
const shutdownTimeout = 10 * time.Second

// serve runs the read models, the HTTP API and the configured stages in one process.
func serve(ctx context.Context, c config, log *zap.Logger) error {
	as, err := agentSettingsFromEnv()
	if err != nil {
		return err
	}
	store, err := openStore(c, log)
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	defer closeLogged(log, "event store", store)
	b, err := openBus(c, "serve", log)
	if err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	defer closeLogged(log, "bus", b)
	emitter, err := record.NewEmitter(store, b.Publisher())
	if err != nil {
		return err
	}

	dm, cat, ag := drifts.New(), catalog.New(), agents.New()
	runner, err := projections.New(projections.Config{Path: filepath.Join(c.DataDir, "projections.db")},
		projections.Deps{Store: store, Logger: log.Named("projections")}, dm, cat, ag)
	if err != nil {
		return fmt.Errorf("open read models: %w", err)
	}
	defer closeLogged(log, "read models", runner)
	// Catch up before the stages start, so that they see every template and policy.
	if err := runner.CatchUp(ctx); err != nil {
		return fmt.Errorf("catch up read models: %w", err)
	}

	stages := c.stageList()
	r, err := router.New(router.Config{}, b, emitter, log)
	if err != nil {
		return err
	}
	ing := ingestDeps{Credentials: ag, RequireSigned: as.RequireSigned, Known: lastStates{dm}, Logger: log.Named("ingest")}
	dk, err := openDocker(c, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "docker client", dk)
	exec, err := dk.executor()
	if err != nil {
		return err
	}
	if err := addStages(r, stages, store, freshCatalog{cat, runner}, ing, exec, time.Now); err != nil {
		return err
	}
	watcher, err := dk.watcher(emitter)
	if err != nil {
		return err
	}
	h, err := api.New(api.Config{EnrolToken: as.EnrolToken}, api.Deps{
		Store: store, Emitter: emitter, Runner: runner, Drifts: dm, Catalog: cat, Agents: ag, Logger: log.Named("api"),
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
	g.Go(func() error { return runner.Run(ctx) })
	if len(stages) > 0 {
		g.Go(func() error { return r.Run(ctx) })
	}
	if watcher != nil {
		g.Go(func() error { return watcher.Run(ctx) })
	}
	g.Go(func() error {
		log.Info("Serving HTTP API", zap.String("addr", ln.Addr().String()), zap.Strings("stages", stages))
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

// worker runs one stage alone over Redis Streams, so that stages scale out as processes.
func worker(ctx context.Context, c config, log *zap.Logger) error {
	stage := c.Stages
	if c.RedisURL == "" {
		return errors.New("--redis: a worker runs over Redis Streams; the embedded bus serves a single process (use serve)")
	}
	if stage == "docker-source" {
		return dockerSourceWorker(ctx, c, log)
	}
	as, err := agentSettingsFromEnv()
	if err != nil {
		return err
	}
	store, err := openStore(c, log)
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	defer closeLogged(log, "event store", store)
	b, err := openBus(c, "worker-"+stage, log)
	if err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	defer closeLogged(log, "bus", b)
	emitter, err := record.NewEmitter(store, b.Publisher())
	if err != nil {
		return err
	}
	r, err := router.New(router.Config{}, b, emitter, log)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	var cat stageCatalog
	if stage == "enrich" || stage == "diff" {
		// These stages read templates and policies: keep a local catalogue of them.
		local := catalog.New()
		runner, err := projections.New(projections.Config{Path: filepath.Join(c.DataDir, stage+"-catalog.db")},
			projections.Deps{Store: store, Logger: log.Named("catalog")}, local)
		if err != nil {
			return fmt.Errorf("open catalogue: %w", err)
		}
		defer closeLogged(log, "catalogue", runner)
		if err := runner.CatchUp(ctx); err != nil {
			return fmt.Errorf("catch up catalogue: %w", err)
		}
		g.Go(func() error { return runner.Run(ctx) })
		cat = freshCatalog{local, runner}
	}
	ing := ingestDeps{RequireSigned: as.RequireSigned, Logger: log.Named("ingest")}
	if stage == "ingest" {
		// Ingest checks signatures: keep a local read model of the enrolled agents.
		creds, closer, err := localCredentials(ctx, g, c, store, log)
		if err != nil {
			return err
		}
		defer closeLogged(log, "agents read model", closer)
		ing.Credentials = creds
	}
	dk, err := openDocker(c, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "docker client", dk)
	exec, err := dk.executor()
	if err != nil {
		return err
	}
	if err := addStages(r, []string{stage}, store, cat, ing, exec, time.Now); err != nil {
		return err
	}
	log.Info("Running worker", zap.String("stage", stage))
	g.Go(func() error { return r.Run(ctx) })
	return g.Wait()
}

func closeLogged(log *zap.Logger, what string, c io.Closer) {
	if err := c.Close(); err != nil {
		log.Warn("Close failed", zap.String("component", what), zap.Error(err))
	}
}
