// Package docker is the action stage's Docker executor: it quarantines, releases, starts and
// stops the container labelled as a CI.
//
// Quarantine connects the container to the quarantine network (created, internal, when
// missing) and then disconnects it from every other network; the networks it had are
// recorded twice: in the ActionSucceeded fact and in the quarantine endpoint's driver option
// io.driftwatch.quarantine.networks, so that a quarantine interrupted half way and done again
// still knows them. Release connects the recorded networks again and then leaves the
// quarantine network. Every operation checks the container first, so doing it again succeeds
// without change.
package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// LabelCI is the label naming the CI a container is (the Docker source reads the same one).
const LabelCI = "io.driftwatch.ci"

// RecordOption is the quarantine endpoint's driver option that holds, as a JSON array, the
// networks the container had before its quarantine.
const RecordOption = "io.driftwatch.quarantine.networks"

// LabelQuarantine marks the quarantine network driftwatch creates.
const LabelQuarantine = "io.driftwatch.quarantine"

// Daemon is what the executor asks of the Docker daemon; *client.Client implements it.
type Daemon interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerUnpause(ctx context.Context, containerID string) error
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
}

// Config tunes the executor. The zero value is the default.
type Config struct {
	// QuarantineNetwork is the network a quarantined container keeps; it is created (bridge,
	// internal: no route out) when missing. Default "driftwatch-quarantine".
	QuarantineNetwork string
	// Selector lists label requirements, "key" or "key=value", that the CI's container must
	// also meet (as the Docker source's); default none. Requirements with a value are also
	// put on the quarantine network when it is created.
	Selector []string
	// StopTimeout is how long a stop waits for the container to exit before it is killed;
	// default 10s.
	StopTimeout time.Duration
}

// Executor implements action.Executor over a Docker daemon. It is safe for concurrent use;
// actions on one container are not serialised, but each is idempotent.
type Executor struct {
	cfg    Config
	daemon Daemon
}

var _ action.Executor = (*Executor)(nil)

// New returns an executor; it refuses a bad config and a missing daemon.
func New(cfg Config, daemon Daemon) (*Executor, error) {
	if cfg.QuarantineNetwork == "" {
		cfg.QuarantineNetwork = "driftwatch-quarantine"
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	var errs []error
	for i, s := range cfg.Selector {
		if k, _, _ := strings.Cut(s, "="); strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("selector[%d]: %q must be key or key=value", i, s))
		}
	}
	if cfg.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("stop timeout: %s must not be negative", cfg.StopTimeout))
	}
	if daemon == nil {
		errs = append(errs, errors.New("daemon: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new docker executor: %w", err)
	}
	return &Executor{cfg: cfg, daemon: daemon}, nil
}

// Execute implements action.Executor.
func (e *Executor) Execute(ctx context.Context, r action.Request) (action.Outcome, error) {
	c, err := e.find(ctx, r.CIID)
	if err != nil {
		return action.Outcome{}, err
	}
	var out action.Outcome
	switch r.Kind {
	case drift.ActionKindQuarantine:
		out, err = e.quarantine(ctx, c)
	case drift.ActionKindRelease:
		out, err = e.release(ctx, c, r.Networks)
	case drift.ActionKindStart:
		out, err = e.start(ctx, c)
	case drift.ActionKindStop:
		out, err = e.stop(ctx, c)
	default:
		return action.Outcome{}, fault.Permanent(fmt.Errorf("the docker executor cannot %q", r.Kind))
	}
	out.Target = name(c)
	return out, err
}

// find inspects the one container labelled as the CI.
func (e *Executor) find(ctx context.Context, ciID string) (container.InspectResponse, error) {
	f := filters.NewArgs(filters.Arg("label", LabelCI+"="+ciID))
	for _, s := range e.cfg.Selector {
		f.Add("label", s)
	}
	list, err := e.daemon.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return container.InspectResponse{}, classify(fmt.Errorf("find the container of %s: %w", ciID, err))
	}
	switch len(list) {
	case 0:
		return container.InspectResponse{}, fault.Permanent(fmt.Errorf("no container is labelled %s=%s", LabelCI, ciID))
	case 1:
	default:
		ids := make([]string, len(list))
		for i, c := range list {
			ids[i] = shortID(c.ID)
		}
		return container.InspectResponse{}, fault.Permanent(fmt.Errorf("%d containers are labelled %s=%s (%s); a CI is one container", len(list), LabelCI, ciID, strings.Join(ids, ", ")))
	}
	c, err := e.daemon.ContainerInspect(ctx, list[0].ID)
	if err != nil {
		return c, classify(fmt.Errorf("inspect the container of %s: %w", ciID, err))
	}
	if c.ContainerJSONBase == nil || c.State == nil || c.NetworkSettings == nil {
		return c, fmt.Errorf("inspect the container of %s: incomplete answer", ciID)
	}
	return c, nil
}

// classify marks the daemon's refusals (no such object, bad request, conflict, forbidden)
// permanent; connection failures and server errors stay retryable.
func classify(err error) error {
	if cerrdefs.IsNotFound(err) || cerrdefs.IsInvalidArgument(err) || cerrdefs.IsConflict(err) ||
		cerrdefs.IsPermissionDenied(err) || cerrdefs.IsFailedPrecondition(err) || cerrdefs.IsNotImplemented(err) ||
		cerrdefs.IsUnauthorized(err) || cerrdefs.IsAlreadyExists(err) {
		return fault.Permanent(err)
	}
	return err
}

func name(c container.InspectResponse) string {
	return fmt.Sprintf("container %s (%s)", strings.TrimPrefix(c.Name, "/"), shortID(c.ID))
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// networks returns the sorted names of the container's networks.
func networks(c container.InspectResponse) []string {
	return slices.Sorted(maps.Keys(c.NetworkSettings.Networks))
}
