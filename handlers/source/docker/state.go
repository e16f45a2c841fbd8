package docker

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// scope lists the top-level fields a Docker observation covers; other fields of a template
// (an image, a command) are left to other sources.
var scope = []string{"power_state", "networks"}

// state is the observed state of a container CI.
type state struct {
	PowerState string   `json:"power_state"`
	Networks   []string `json:"networks"`
}

// snapshot is one container as an observation: who it is and what it looks like.
type snapshot struct {
	containerID string
	ci          ci
	state       state
	details     map[string]string
}

// ci is the CI a container is, from its labels.
type ci struct {
	id, ciType, templateID string
}

// report is what the watcher last reported of a container.
type report struct {
	ci      ci
	key     string // identity and state, to tell a changed container from an unchanged one
	stopped bool   // reported stopped: its network connects come without an event
}

// ciOf reads the CI labels; ok is false for a container that is not a CI.
func ciOf(labels map[string]string) (ci, bool) {
	id := strings.TrimSpace(labels[LabelCI])
	if id == "" {
		return ci{}, false
	}
	t := strings.TrimSpace(labels[LabelCIType])
	if t == "" {
		t = DefaultCIType
	}
	return ci{id: id, ciType: t, templateID: strings.TrimSpace(labels[LabelTemplate])}, true
}

// powerState maps a docker status to a power state: a restarting container counts as
// running (the daemon keeps it up), created, exited, dead and removing ones as stopped.
func powerState(status string) string {
	switch status {
	case "running", "restarting":
		return drift.PowerRunning
	case "paused":
		return drift.PowerPaused
	}
	return drift.PowerStopped
}

// snapshotOf turns an inspected container into a snapshot.
func snapshotOf(c container.InspectResponse, who ci) snapshot {
	s := snapshot{containerID: c.ID, ci: who, state: state{Networks: []string{}}}
	status := ""
	if c.State != nil {
		status = c.State.Status
	}
	s.state.PowerState = powerState(status)
	if c.NetworkSettings != nil {
		s.state.Networks = slices.Sorted(maps.Keys(c.NetworkSettings.Networks))
	}
	name := strings.TrimPrefix(c.Name, "/")
	power := fmt.Sprintf("container %s (%s) is %s", name, shortID(c.ID), status)
	if c.State != nil && s.state.PowerState == drift.PowerStopped && c.State.FinishedAt != "" && !strings.HasPrefix(c.State.FinishedAt, "0001-") {
		power += fmt.Sprintf(" (exit code %d at %s)", c.State.ExitCode, c.State.FinishedAt)
	}
	s.details = map[string]string{
		"/power_state": power,
		"/networks":    fmt.Sprintf("container %s (%s) is attached to [%s]", name, shortID(c.ID), strings.Join(s.state.Networks, ", ")),
	}
	return s
}

// removedSnapshot is a container that no longer exists.
func removedSnapshot(id string, who ci) snapshot {
	return snapshot{
		containerID: id, ci: who, state: state{PowerState: drift.PowerRemoved, Networks: []string{}},
		details: map[string]string{"/power_state": fmt.Sprintf("container %s was removed", shortID(id))},
	}
}

// key identifies a snapshot's CI and state.
func (s snapshot) key() string {
	return strings.Join(append([]string{s.ci.id, s.ci.ciType, s.ci.templateID, s.state.PowerState}, s.state.Networks...), "\x00")
}

// record turns a snapshot into an observation observed at at. Its id derives from the
// container, the time and the state, so publishing it again is the same observation.
func (s snapshot) record(at time.Time) (event.Record, error) {
	raw, err := json.Marshal(s.state)
	if err != nil {
		return event.Record{}, fmt.Errorf("encode state of container %s: %w", s.containerID, err)
	}
	hash, err := drift.Hash(raw)
	if err != nil {
		return event.Record{}, fmt.Errorf("hash state of container %s: %w", s.containerID, err)
	}
	at = at.UTC()
	id := event.DeriveID("docker-observation", s.containerID, at.Format(time.RFC3339Nano), hash)
	obs := event.ObservationSubmitted_v1{
		Observation: drift.Observation{
			ID: id, CIID: s.ci.id, CIType: s.ci.ciType, TemplateID: s.ci.templateID, Source: Source,
			ObservedAt: at, State: raw, StateHash: hash, Details: s.details,
		},
		Scope: scope,
	}
	return event.Record{
		ID:      event.DeriveID("observation-submitted", s.ci.id, id),
		Subject: s.ci.id,
		Time:    at,
		Fact:    obs,
	}, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// selector is a parsed Config.Selector.
type selector []requirement

type requirement struct {
	key, value string
	anyValue   bool
}

func parseSelector(s []string) selector {
	out := make(selector, len(s))
	for i, r := range s {
		k, v, hasValue := strings.Cut(r, "=")
		out[i] = requirement{key: strings.TrimSpace(k), value: v, anyValue: !hasValue}
	}
	return out
}

// matches reports whether labels meet every requirement.
func (s selector) matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.key]
		if !ok || (!r.anyValue && v != r.value) {
			return false
		}
	}
	return true
}

// filters renders the requirements as Docker label filters.
func (s selector) filters() []string {
	out := make([]string, len(s))
	for i, r := range s {
		out[i] = r.key
		if !r.anyValue {
			out[i] += "=" + r.value
		}
	}
	return out
}
