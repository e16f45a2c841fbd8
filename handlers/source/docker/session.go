package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// followed lists the events that can change a container's power state or networks.
var followed = []events.Action{
	events.ActionCreate, events.ActionStart, events.ActionRestart, events.ActionStop, events.ActionDie,
	events.ActionKill, events.ActionPause, events.ActionUnPause, events.ActionDestroy,
	events.ActionConnect, events.ActionDisconnect,
}

// session is one connection to the daemon: subscribe, report everything, then follow events
// until the stream or a report fails (the error says which) or ctx ends.
func (w *Watcher) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	info, err := w.daemon.Info(ctx)
	if err != nil {
		return fmt.Errorf("ask the daemon for its time: %w", err)
	}
	daemonNow, err := time.Parse(time.RFC3339Nano, info.SystemTime)
	if err != nil {
		return fmt.Errorf("read the daemon's time %q: %w", info.SystemTime, err)
	}
	// The daemon's clock may differ from ours; lag is measured on its clock.
	offset := w.now().Sub(daemonNow)
	// The daemon answers the events request before it subscribes, so the subscription starts
	// at daemonNow: the daemon replays what it emitted since, and the list below cannot slip
	// between the two.
	msgs, errs := w.daemon.Events(ctx, events.ListOptions{
		Since:   fmt.Sprintf("%d.%09d", daemonNow.Unix(), daemonNow.Nanosecond()),
		Filters: eventFilters(),
	})
	// Events the daemon emitted before the list are covered by the report made from it.
	covered := w.now().Add(-offset)
	if err := w.resync(ctx, true); err != nil {
		return err
	}
	w.backoff, w.lastErr = w.cfg.MinBackoff, ""
	w.log.Info("Following Docker events", zap.Int("containers", len(w.known)))

	dirty := map[string]bool{}
	resyncDue := false
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	armed := false
	arm := func() {
		if !armed {
			debounce.Reset(w.cfg.Debounce)
			armed = true
		}
	}
	due := func(why string, d time.Duration) {
		if !resyncDue {
			w.log.Info(why, zap.Duration("delay", d))
			resyncDue = true
			arm()
		}
	}
	tick := time.NewTicker(max(w.cfg.LagThreshold/4, 10*time.Millisecond))
	defer tick.Stop()
	lastTick, lastResync, lastStopped := time.Now(), time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if err == nil {
				err = errors.New("the stream ended")
			}
			return fmt.Errorf("follow docker events: %w", err)
		case m, ok := <-msgs:
			if !ok {
				return errors.New("follow docker events: the stream ended")
			}
			if id := w.affected(m, dirty); id != "" {
				dirty[id] = true
				arm()
			}
			// An event that comes late may have had others dropped behind it by the daemon,
			// unless a full report made since covers it.
			emitted := time.Unix(0, m.TimeNano)
			if lag := w.now().Sub(emitted.Add(offset)); lag > w.cfg.LagThreshold && emitted.After(covered) {
				due("Docker events lag; inspecting every container", lag)
			}
		case now := <-tick.C:
			// A ticker that fires late means this process did not run: stopped or starved.
			if gap := time.Since(lastTick); gap > w.cfg.LagThreshold {
				due("Docker watcher was paused; inspecting every container", gap)
			}
			lastTick = time.Now()
			if w.cfg.ResyncInterval > 0 && now.Sub(lastResync) >= w.cfg.ResyncInterval && !resyncDue {
				w.log.Debug("Periodic inspection of every container")
				resyncDue = true
				arm()
			}
			// The daemon tells no network connect of a stopped container: look again.
			if w.cfg.StoppedInterval > 0 && now.Sub(lastStopped) >= w.cfg.StoppedInterval {
				lastStopped = now
				for id, r := range w.known {
					if r.stopped {
						dirty[id] = true
						arm()
					}
				}
			}
		case <-debounce.C:
			armed = false
			var err error
			if resyncDue {
				at := w.now().Add(-offset)
				if err = w.resync(ctx, false); err == nil {
					resyncDue, lastResync, covered = false, time.Now(), at
				}
			} else {
				err = w.report(ctx, slices.Sorted(maps.Keys(dirty)), false)
			}
			if err != nil {
				return err
			}
			clear(dirty)
			// Time spent reporting is not a pause.
			lastTick = time.Now()
		}
	}
}

// eventFilters asks the daemon for container and network events that can change what is
// reported. Network events carry no container labels, so labels are checked here.
func eventFilters() filters.Args {
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)))
	for _, a := range followed {
		f.Add("event", string(a))
	}
	return f
}

// affected returns the id of the watched container an event is about, or "".
func (w *Watcher) affected(m events.Message, dirty map[string]bool) string {
	switch m.Type {
	case events.ContainerEventType:
		if _, isCI := ciOf(m.Actor.Attributes); isCI && w.sel.matches(m.Actor.Attributes) {
			return m.Actor.ID
		}
	case events.NetworkEventType:
		id := m.Actor.Attributes["container"]
		if _, known := w.known[id]; known || dirty[id] {
			return id
		}
	}
	return ""
}

// resync lists every watched container and reports those that changed since the last
// report, or every one when all is set; known containers missing from the list were removed.
func (w *Watcher) resync(ctx context.Context, all bool) error {
	f := filters.NewArgs(filters.Arg("label", LabelCI))
	for _, l := range w.sel.filters() {
		f.Add("label", l)
	}
	list, err := w.daemon.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	ids := map[string]bool{}
	for _, c := range list {
		ids[c.ID] = true
	}
	for id := range w.known {
		ids[id] = true
	}
	return w.report(ctx, slices.Sorted(maps.Keys(ids)), all)
}

// report inspects the given containers and publishes, in one batch, an observation of each
// that changed since its last report (of each, when all is set).
func (w *Watcher) report(ctx context.Context, ids []string, all bool) error {
	var snaps []snapshot
	for _, id := range ids {
		c, err := w.daemon.ContainerInspect(ctx, id)
		prev, known := w.known[id]
		switch {
		case cerrdefs.IsNotFound(err):
			if known {
				snaps = append(snaps, removedSnapshot(id, prev.ci))
			}
			continue
		case err != nil:
			return fmt.Errorf("inspect container %s: %w", shortID(id), err)
		}
		var labels map[string]string
		if c.Config != nil {
			labels = c.Config.Labels
		}
		who, isCI := ciOf(labels)
		if !isCI || !w.sel.matches(labels) {
			continue
		}
		s := snapshotOf(c, who)
		if all || !known || prev.key != s.key() {
			snaps = append(snaps, s)
		}
	}
	if len(snaps) == 0 {
		return nil
	}
	recs := make([]event.Record, len(snaps))
	for i, s := range snaps {
		rec, err := s.record(w.observedAt())
		if err != nil {
			return err
		}
		recs[i] = rec
	}
	if err := w.emitter.Emit(ctx, recs...); err != nil {
		return fmt.Errorf("publish %d docker observations: %w", len(recs), err)
	}
	for i, s := range snaps {
		if s.state.PowerState == drift.PowerRemoved {
			delete(w.known, s.containerID)
		} else {
			w.known[s.containerID] = report{ci: s.ci, key: s.key(), stopped: s.state.PowerState == drift.PowerStopped}
		}
		w.log.Debug("Container reported", zap.String("ci_id", s.ci.id), zap.String("message_id", recs[i].ID),
			zap.String("power_state", s.state.PowerState), zap.Strings("networks", s.state.Networks))
	}
	return nil
}

// observedAt returns the time of a new observation: now, but always after the previous one,
// so that the pipeline's last observation of a CI is the latest.
func (w *Watcher) observedAt() time.Time {
	at := w.now()
	if !at.After(w.lastAt) {
		at = w.lastAt.Add(time.Microsecond)
	}
	w.lastAt = at
	return at
}
