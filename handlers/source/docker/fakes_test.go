package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

// fakeDaemon is a Docker daemon in memory: containers the test changes at will and an event
// stream it feeds by hand. It logs the calls it gets.
type fakeDaemon struct {
	mu         sync.Mutex
	containers map[string]container.InspectResponse
	calls      []string
	stream     *fakeStream
	streams    chan *fakeStream // each Events call, for the test to take
	clock      func() time.Time
	listFails  error
}

type fakeStream struct {
	msgs  chan events.Message
	errs  chan error
	since string
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{containers: map[string]container.InspectResponse{}, streams: make(chan *fakeStream, 1000), clock: time.Now}
}

func (d *fakeDaemon) log(call string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
}

// callLog returns the calls so far, inspections of one container named "inspect".
func (d *fakeDaemon) callLog() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.calls))
	for _, c := range d.calls {
		out = append(out, strings.SplitN(c, " ", 2)[0])
	}
	return out
}

func (d *fakeDaemon) inspections(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if c == "inspect "+id {
			n++
		}
	}
	return n
}

func (d *fakeDaemon) Info(context.Context) (system.Info, error) {
	d.log("info")
	return system.Info{SystemTime: d.clock().Format(time.RFC3339Nano)}, nil
}

func (d *fakeDaemon) Events(ctx context.Context, o events.ListOptions) (<-chan events.Message, <-chan error) {
	d.log("events")
	s := &fakeStream{msgs: make(chan events.Message), errs: make(chan error, 1), since: o.Since}
	d.mu.Lock()
	d.stream = s
	d.mu.Unlock()
	d.streams <- s
	return s.msgs, s.errs
}

func (d *fakeDaemon) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	d.log("list")
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.listFails != nil {
		return nil, d.listFails
	}
	var out []container.Summary
	for id, c := range d.containers {
		ok := true
		for _, l := range o.Filters.Get("label") {
			k, v, hasValue := strings.Cut(l, "=")
			got, has := c.Config.Labels[k]
			ok = ok && has && (!hasValue || got == v)
		}
		if ok {
			out = append(out, container.Summary{ID: id, Labels: c.Config.Labels})
		}
	}
	return out, nil
}

func (d *fakeDaemon) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	d.log("inspect " + id)
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.containers[id]
	if !ok {
		return c, fmt.Errorf("no such container: %s: %w", id, cerrdefs.ErrNotFound)
	}
	return c, nil
}

// set creates or changes a container; no event is sent.
func (d *fakeDaemon) set(id, status string, labels map[string]string, networks ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	nets := map[string]*network.EndpointSettings{}
	for _, n := range networks {
		nets[n] = &network.EndpointSettings{}
	}
	d.containers[id] = container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + id, State: &container.State{Status: status}},
		Config:            &container.Config{Labels: labels},
		NetworkSettings:   &container.NetworkSettings{Networks: nets},
	}
}

func (d *fakeDaemon) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.containers, id)
}

// send delivers a container event (with the container's labels) on the current stream.
func (d *fakeDaemon) send(t *testing.T, id string, action events.Action, at time.Time) {
	t.Helper()
	d.mu.Lock()
	s, labels := d.stream, map[string]string{}
	if c, ok := d.containers[id]; ok {
		labels = c.Config.Labels
	}
	d.mu.Unlock()
	m := events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id, Attributes: labels}, TimeNano: at.UnixNano()}
	select {
	case s.msgs <- m:
	case <-time.After(10 * time.Second):
		t.Fatalf("the watcher did not take event %s of %s", action, id)
	}
}

// sendNetwork delivers a network event about a container.
func (d *fakeDaemon) sendNetwork(t *testing.T, containerID, networkName string, action events.Action) {
	t.Helper()
	d.mu.Lock()
	s := d.stream
	d.mu.Unlock()
	m := events.Message{Type: events.NetworkEventType, Action: action, TimeNano: d.clock().UnixNano(),
		Actor: events.Actor{ID: "net-" + networkName, Attributes: map[string]string{"container": containerID, "name": networkName}}}
	select {
	case s.msgs <- m:
	case <-time.After(10 * time.Second):
		t.Fatalf("the watcher did not take network event %s of %s", action, containerID)
	}
}

// breakStream ends the current stream with an error.
func (d *fakeDaemon) breakStream(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stream.errs <- err
}

// observed is one published observation, decoded.
type observed struct {
	id         string
	ciID       string
	ciType     string
	templateID string
	power      string
	networks   []string
	at         time.Time
	details    map[string]string
}

// recorder is an Emitter that keeps what it was given; it fails while fail is set.
type recorder struct {
	mu   sync.Mutex
	obs  []observed
	fail error
	note chan struct{}
}

func newRecorder() *recorder { return &recorder{note: make(chan struct{}, 1)} }

func (r *recorder) Emit(_ context.Context, recs ...event.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	for _, rec := range recs {
		f, ok := rec.Fact.(event.ObservationSubmitted_v1)
		if !ok {
			return errors.New("not an observation")
		}
		var s struct {
			Power    string   `json:"power_state"`
			Networks []string `json:"networks"`
		}
		if err := json.Unmarshal(f.State, &s); err != nil {
			return err
		}
		if rec.Subject != f.CIID || f.Source != "docker" || !slices.Equal(f.Scope, []string{"power_state", "networks"}) {
			return fmt.Errorf("bad observation record %+v", rec)
		}
		r.obs = append(r.obs, observed{id: f.ID, ciID: f.CIID, ciType: f.CIType, templateID: f.TemplateID,
			power: s.Power, networks: s.Networks, at: f.ObservedAt, details: f.Details})
	}
	select {
	case r.note <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *recorder) all() []observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.obs)
}

// of returns the observations of one CI.
func (r *recorder) of(ci string) []observed {
	var out []observed
	for _, o := range r.all() {
		if o.ciID == ci {
			out = append(out, o)
		}
	}
	return out
}

// waitFor waits until the latest observation of ci has the power state and networks.
func (r *recorder) waitFor(t *testing.T, ci, power string, networks ...string) observed {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if obs := r.of(ci); len(obs) > 0 {
			last := obs[len(obs)-1]
			if last.power == power && slices.Equal(last.networks, append([]string{}, networks...)) {
				return last
			}
		}
		select {
		case <-r.note:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s to be reported %s %v; got %+v", ci, power, networks, r.of(ci))
		}
	}
}
