package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// quarantine leaves the container attached to the quarantine network only.
func (e *Executor) quarantine(ctx context.Context, c container.InspectResponse) (action.Outcome, error) {
	q := e.cfg.QuarantineNetwork
	out := action.Outcome{QuarantineNetwork: q}
	if err := e.ensureNetwork(ctx); err != nil {
		return out, err
	}
	had := networks(c)
	if ep, in := c.NetworkSettings.Networks[q]; in {
		// Quarantined before, perhaps half way: the record is on the endpoint.
		out.Networks = recorded(ep)
	} else {
		out.Networks = had
		rec, err := json.Marshal(had)
		if err != nil {
			return out, err
		}
		ep := &network.EndpointSettings{DriverOpts: map[string]string{RecordOption: string(rec)}}
		if err := e.daemon.NetworkConnect(ctx, q, c.ID, ep); err != nil {
			return out, classify(fmt.Errorf("connect %s to %s: %w", name(c), q, err))
		}
		out.Changed = true
	}
	var left []string
	for _, n := range had {
		if n == q {
			continue
		}
		if err := e.daemon.NetworkDisconnect(ctx, n, c.ID, false); err != nil && !cerrdefs.IsNotFound(err) {
			return out, classify(fmt.Errorf("disconnect %s from %s: %w", name(c), n, err))
		}
		left = append(left, n)
	}
	out.Changed = out.Changed || len(left) > 0
	switch {
	case len(left) > 0:
		out.Detail = fmt.Sprintf("%s is in quarantine network %s; disconnected from %s", name(c), q, strings.Join(left, ", "))
	case out.Changed:
		out.Detail = fmt.Sprintf("%s is in quarantine network %s", name(c), q)
	default:
		out.Detail = fmt.Sprintf("%s was in quarantine network %s already", name(c), q)
	}
	return out, nil
}

// release connects the container to the networks it had and leaves the quarantine network;
// a container that is not quarantined is left alone.
func (e *Executor) release(ctx context.Context, c container.InspectResponse, restore []string) (action.Outcome, error) {
	q := e.cfg.QuarantineNetwork
	out := action.Outcome{QuarantineNetwork: q}
	ep, in := c.NetworkSettings.Networks[q]
	if !in {
		out.Detail = fmt.Sprintf("%s is not in quarantine network %s", name(c), q)
		return out, nil
	}
	if len(restore) == 0 {
		restore = recorded(ep)
	}
	restore = slices.DeleteFunc(slices.Clone(restore), func(n string) bool { return n == q })
	if len(restore) == 0 {
		return out, fault.Permanent(fmt.Errorf("no record of the networks %s had before its quarantine; connect it by hand", name(c)))
	}
	slices.Sort(restore)
	out.Networks = restore
	for _, n := range restore {
		if _, ok := c.NetworkSettings.Networks[n]; ok {
			continue
		}
		if err := e.daemon.NetworkConnect(ctx, n, c.ID, nil); err != nil {
			return out, classify(fmt.Errorf("connect %s to %s again: %w", name(c), n, err))
		}
	}
	if err := e.daemon.NetworkDisconnect(ctx, q, c.ID, false); err != nil && !cerrdefs.IsNotFound(err) {
		return out, classify(fmt.Errorf("disconnect %s from %s: %w", name(c), q, err))
	}
	out.Changed = true
	out.Detail = fmt.Sprintf("%s left quarantine network %s; connected to %s", name(c), q, strings.Join(restore, ", "))
	return out, nil
}

// recorded reads the networks recorded on the quarantine endpoint.
func recorded(ep *network.EndpointSettings) []string {
	var nets []string
	if ep != nil {
		_ = json.Unmarshal([]byte(ep.DriverOpts[RecordOption]), &nets)
	}
	return nets
}

// ensureNetwork creates the quarantine network when it does not exist.
func (e *Executor) ensureNetwork(ctx context.Context) error {
	q := e.cfg.QuarantineNetwork
	_, err := e.daemon.NetworkInspect(ctx, q, network.InspectOptions{})
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return classify(fmt.Errorf("inspect quarantine network %s: %w", q, err))
	}
	labels := map[string]string{LabelQuarantine: "true"}
	for _, s := range e.cfg.Selector {
		if k, v, ok := strings.Cut(s, "="); ok {
			labels[k] = v
		}
	}
	_, err = e.daemon.NetworkCreate(ctx, q, network.CreateOptions{Driver: "bridge", Internal: true, Labels: labels})
	if err != nil && !cerrdefs.IsConflict(err) && !cerrdefs.IsAlreadyExists(err) {
		return classify(fmt.Errorf("create quarantine network %s: %w", q, err))
	}
	return nil
}

// start brings the container to running: it unpauses a paused one and starts a stopped one.
func (e *Executor) start(ctx context.Context, c container.InspectResponse) (action.Outcome, error) {
	var out action.Outcome
	switch {
	case c.State.Paused:
		if err := e.daemon.ContainerUnpause(ctx, c.ID); err != nil {
			return out, classify(fmt.Errorf("unpause %s: %w", name(c), err))
		}
		out.Changed, out.Detail = true, name(c)+" unpaused"
	case c.State.Running:
		out.Detail = name(c) + " was running already"
	default:
		if err := e.daemon.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return out, classify(fmt.Errorf("start %s: %w", name(c), err))
		}
		out.Changed, out.Detail = true, name(c)+" started"
	}
	return out, nil
}

// stop brings the container to stopped.
func (e *Executor) stop(ctx context.Context, c container.InspectResponse) (action.Outcome, error) {
	var out action.Outcome
	if !c.State.Running && !c.State.Paused && !c.State.Restarting {
		out.Detail = name(c) + " was stopped already"
		return out, nil
	}
	secs := int(e.cfg.StopTimeout.Seconds())
	if err := e.daemon.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &secs}); err != nil {
		return out, classify(fmt.Errorf("stop %s: %w", name(c), err))
	}
	out.Changed, out.Detail = true, name(c)+" stopped"
	return out, nil
}
