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
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// dockerSide is a process's connection to the Docker daemon, when --docker-host names one:
// the Docker source watches it and the action stage acts on its containers.
type dockerSide struct {
	c   config
	cli *client.Client // nil: Docker is off
	log *zap.Logger
}

// openDocker builds the Docker client (it connects lazily and negotiates the API version).
func openDocker(c config, log *zap.Logger) (*dockerSide, error) {
	d := &dockerSide{c: c, log: log}
	if c.DockerHost == "" {
		return d, nil
	}
	cli, err := client.NewClientWithOpts(client.WithHost(c.DockerHost), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("--docker-host %s: %w", c.DockerHost, err)
	}
	d.cli = cli
	return d, nil
}

// Close releases the client.
func (d *dockerSide) Close() error {
	if d.cli == nil {
		return nil
	}
	return d.cli.Close()
}

// selector turns --docker-selector into label requirements.
func (d *dockerSide) selector() []string {
	var out []string
	for _, s := range strings.Split(d.c.DockerSelector, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// executor is the action stage's executor: Docker's, or one that refuses every action when
// Docker is off.
func (d *dockerSide) executor() (action.Executor, error) {
	if d.cli == nil {
		return noExecutor{}, nil
	}
	return dockeraction.New(dockeraction.Config{QuarantineNetwork: d.c.QuarantineNetwork, Selector: d.selector()}, d.cli)
}

// watcher is the Docker source publishing through emitter, or nil when Docker is off.
func (d *dockerSide) watcher(emitter dockersource.Emitter) (*dockersource.Watcher, error) {
	if d.cli == nil {
		return nil, nil
	}
	return dockersource.New(dockersource.Config{Selector: d.selector()},
		dockersource.Deps{Daemon: d.cli, Emitter: emitter, Logger: d.log.Named("docker-source")})
}

// noExecutor answers every action when no executor is configured.
type noExecutor struct{}

func (noExecutor) Execute(_ context.Context, r action.Request) (action.Outcome, error) {
	return action.Outcome{}, fault.Permanent(fmt.Errorf("no executor can %s %s: start driftwatch with --docker-host to act on containers", r.Kind, r.CIID))
}

// dockerSourceWorker is `driftwatch worker docker-source`: the Docker source alone, publishing
// observations on Redis Streams for the pipeline's workers.
func dockerSourceWorker(ctx context.Context, c config, log *zap.Logger) error {
	if c.DockerHost == "" {
		return errors.New("--docker-host: the docker-source worker needs a Docker daemon (unix:///var/run/docker.sock)")
	}
	d, err := openDocker(c, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "docker client", d)
	b, err := openBus(c, "worker-docker-source", log)
	if err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	defer closeLogged(log, "bus", b)
	w, err := d.watcher(busEmitter{pub: b.Publisher()})
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
