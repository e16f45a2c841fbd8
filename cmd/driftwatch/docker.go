package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/docker/docker/client"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/action"
	dockeraction "github.com/driftwatch/driftwatch/handlers/action/docker"
	dockersource "github.com/driftwatch/driftwatch/handlers/source/docker"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// dockerClient builds the Docker client when --docker-host names a daemon (it connects
// lazily and negotiates the API version), or returns nil.
func dockerClient(c config) (*client.Client, error) {
	if c.DockerHost == "" {
		return nil, nil
	}
	cli, err := client.NewClientWithOpts(client.WithHost(c.DockerHost), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("--docker-host %s: %w", c.DockerHost, err)
	}
	return cli, nil
}

// selector turns --docker-selector into label requirements.
func selector(c config) []string {
	var out []string
	for _, s := range strings.Split(c.DockerSelector, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// docker returns the process's Docker client, opening it the first time; nil when Docker is
// off.
func (a *app) docker() (*client.Client, error) {
	if a.dockerCli != nil || a.cfg.DockerHost == "" {
		return a.dockerCli, nil
	}
	cli, err := dockerClient(a.cfg)
	if err != nil {
		return nil, err
	}
	a.dockerCli = cli
	a.closers = append(a.closers, cli)
	return cli, nil
}

// executor is the action stage's executor registry, by action kind: Docker's executor for the
// container actions when Docker is on, and the playbook, script and ticket executors the
// configuration asks for (see remediators); a kind without an executor fails permanently,
// naming how to get one.
func (a *app) executor() (action.Executor, error) {
	reg := &action.Registry{}
	cli, err := a.docker()
	if err != nil {
		return nil, err
	}
	if cli == nil {
		reg.Missing = "start driftwatch with --docker-host to act on containers"
	} else {
		d, err := dockeraction.New(dockeraction.Config{QuarantineNetwork: a.cfg.QuarantineNetwork, Selector: selector(a.cfg)}, cli)
		if err != nil {
			return nil, err
		}
		if err := reg.Register(d, drift.ActionKindQuarantine, drift.ActionKindRelease, drift.ActionKindStart, drift.ActionKindStop); err != nil {
			return nil, err
		}
	}
	if err := a.remediators(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// watcher is the Docker source, its observations going through ingest at once; nil when
// Docker is off.
func (a *app) watcher() (*dockersource.Watcher, error) {
	cli, err := a.docker()
	if err != nil || cli == nil {
		return nil, err
	}
	return dockersource.New(dockersource.Config{Selector: selector(a.cfg)},
		dockersource.Deps{Daemon: cli, Emitter: submitter{a}, Logger: a.log.Named("docker-source")})
}

// dockerSourceWorker is `driftwatch worker docker-source`: the Docker source alone, publishing
// observations on Redis Streams for the ingest workers; it needs no event store.
func dockerSourceWorker(ctx context.Context, c config, log *zap.Logger) error {
	if c.DockerHost == "" {
		return errors.New("--docker-host: the docker-source worker needs a Docker daemon (unix:///var/run/docker.sock)")
	}
	cli, err := dockerClient(c)
	if err != nil {
		return err
	}
	defer closeLogged(log, cli)
	b, err := openBus(c, nil, "worker-docker-source", log)
	if err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	defer closeLogged(log, b)
	w, err := dockersource.New(dockersource.Config{Selector: selector(c)},
		dockersource.Deps{Daemon: cli, Emitter: busEmitter{pub: b.Publisher()}, Logger: log.Named("docker-source")})
	if err != nil {
		return err
	}
	log.Info("Running worker", zap.String("stage", "docker-source"))
	return w.Run(ctx)
}

// busEmitter publishes facts that are not stored (observations) without an event store.
type busEmitter struct{ pub message.Publisher }

func (e busEmitter) Emit(_ context.Context, recs ...event.Record) error {
	msgs := make([]*message.Message, len(recs))
	for i, r := range recs {
		if event.TopicOf(r.Fact.FactType()) != topic.Observations {
			return fmt.Errorf("emit %s: the docker-source worker publishes observations only", r.Fact.FactType())
		}
		msg, err := r.ToMessage()
		if err != nil {
			return err
		}
		msgs[i] = msg
	}
	if err := e.pub.Publish(topic.Observations, msgs...); err != nil {
		return fmt.Errorf("publish %d observations: %w", len(msgs), err)
	}
	return nil
}
