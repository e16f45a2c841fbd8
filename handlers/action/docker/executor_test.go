package docker_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/network"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/docker"
	"github.com/driftwatch/driftwatch/internal/testsupport/dockertest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// setup starts the daemon helper and an executor with a quarantine network of the test's own.
func setup(t *testing.T) (*dockertest.Daemon, *docker.Executor, string) {
	t.Helper()
	d := dockertest.Start(t)
	q := d.Name("quarantine")
	t.Cleanup(func() { d.RemoveNetwork(q) })
	e, err := docker.New(docker.Config{QuarantineNetwork: q, Selector: []string{d.Selector()}}, d.Client)
	if err != nil {
		t.Fatal(err)
	}
	return d, e, q
}

func execute(t *testing.T, e *docker.Executor, kind drift.ActionKind, ci string, networks ...string) action.Outcome {
	t.Helper()
	out, err := e.Execute(context.Background(), action.Request{ActionID: "a-" + string(kind), Kind: kind, CIID: ci, Networks: networks})
	if err != nil {
		t.Fatalf("%s %s: %v", kind, ci, err)
	}
	return out
}

func TestQuarantineAndRelease(t *testing.T) {
	t.Parallel()
	d, e, q := setup(t)
	lan := d.Network("lan")
	ci := d.Name("web")
	id := d.Run("web", map[string]string{docker.LabelCI: ci}, "bridge", lan)

	out := execute(t, e, drift.ActionKindQuarantine, ci)
	if _, nets := d.Inspect(id); !slices.Equal(nets, []string{q}) {
		t.Fatalf("leaves_only_the_quarantine_network: %v", nets)
	}
	if !out.Changed || !slices.Equal(out.Networks, []string{"bridge", lan}) || out.QuarantineNetwork != q || out.Target == "" {
		t.Fatalf("records_the_networks_it_had: %+v", out)
	}
	var qn network.Inspect
	d.Do("inspect "+q, func(ctx context.Context) (err error) {
		qn, err = d.Client.NetworkInspect(ctx, q, network.InspectOptions{})
		return err
	})
	if !qn.Internal || qn.Labels[docker.LabelQuarantine] != "true" {
		t.Fatalf("creates_an_internal_quarantine_network: %+v", qn)
	}

	again := execute(t, e, drift.ActionKindQuarantine, ci)
	if again.Changed || !slices.Equal(again.Networks, []string{"bridge", lan}) {
		t.Fatalf("quarantines_again_without_change_and_keeps_the_record: %+v", again)
	}

	rel := execute(t, e, drift.ActionKindRelease, ci, out.Networks...)
	if _, nets := d.Inspect(id); !rel.Changed || !slices.Equal(nets, []string{"bridge", lan}) {
		t.Fatalf("release_restores_the_recorded_set: %v %+v", nets, rel)
	}
	if rel := execute(t, e, drift.ActionKindRelease, ci, out.Networks...); rel.Changed {
		t.Fatalf("releases_a_container_not_in_quarantine_without_change: %+v", rel)
	}
}

func TestQuarantineOfAStoppedContainerAndReleaseFromTheEndpointRecord(t *testing.T) {
	t.Parallel()
	d, e, q := setup(t)
	ci := d.Name("db")
	id := d.Create("db", map[string]string{docker.LabelCI: ci})
	execute(t, e, drift.ActionKindQuarantine, ci)
	if status, nets := d.Inspect(id); status != "created" || !slices.Equal(nets, []string{q}) {
		t.Fatalf("quarantines_a_stopped_container: %s %v", status, nets)
	}
	// The action stream lost its record: the endpoint still has it.
	execute(t, e, drift.ActionKindRelease, ci)
	if _, nets := d.Inspect(id); !slices.Equal(nets, []string{"bridge"}) {
		t.Fatalf("releases_from_the_endpoint_record: %v", nets)
	}
}

func TestQuarantineCompletesAnInterruptedQuarantine(t *testing.T) {
	t.Parallel()
	d, e, q := setup(t)
	lan := d.Network("lan")
	ci := d.Name("web")
	id := d.Run("web", map[string]string{docker.LabelCI: ci}, "bridge", lan)
	// A first quarantine connected the container to q and left the bridge, then died.
	out := execute(t, e, drift.ActionKindQuarantine, ci)
	execute(t, e, drift.ActionKindRelease, ci, out.Networks...)
	rec, _ := json.Marshal([]string{"bridge", lan})
	d.Do("connect to "+q, func(ctx context.Context) error {
		return d.Client.NetworkConnect(ctx, q, id, &network.EndpointSettings{DriverOpts: map[string]string{docker.RecordOption: string(rec)}})
	})
	d.Disconnect("bridge", id)

	again := execute(t, e, drift.ActionKindQuarantine, ci)
	if _, nets := d.Inspect(id); !again.Changed || !slices.Equal(nets, []string{q}) || !slices.Equal(again.Networks, []string{"bridge", lan}) {
		t.Fatalf("finishes_the_quarantine_and_keeps_the_first_record: %v %+v", nets, again)
	}
}

func TestStartAndStop(t *testing.T) {
	t.Parallel()
	d, e, _ := setup(t)
	ci := d.Name("app")
	id := d.Run("app", map[string]string{docker.LabelCI: ci})
	steps := []struct {
		name    string
		kind    drift.ActionKind
		before  func()
		changed bool
		status  string
	}{
		{"starts_nothing_when_running", drift.ActionKindStart, nil, false, "running"},
		{"stops_a_running_container", drift.ActionKindStop, nil, true, "exited"},
		{"stops_nothing_when_stopped", drift.ActionKindStop, nil, false, "exited"},
		{"starts_a_stopped_container", drift.ActionKindStart, nil, true, "running"},
		{"unpauses_a_paused_container", drift.ActionKindStart, func() {
			d.Do("pause", func(ctx context.Context) error { return d.Client.ContainerPause(ctx, id) })
		}, true, "running"},
		{"stops_a_paused_container", drift.ActionKindStop, func() {
			d.Do("pause", func(ctx context.Context) error { return d.Client.ContainerPause(ctx, id) })
		}, true, "exited"},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		out := execute(t, e, s.kind, ci)
		if status, _ := d.Inspect(id); out.Changed != s.changed || status != s.status {
			t.Fatalf("%s: changed %v status %s (%s)", s.name, out.Changed, status, out.Detail)
		}
	}
}

func TestFailsPermanentlyWithoutExactlyOneContainer(t *testing.T) {
	t.Parallel()
	d, e, _ := setup(t)
	ci := d.Name("twin")
	d.Create("twin-a", map[string]string{docker.LabelCI: ci})
	d.Create("twin-b", map[string]string{docker.LabelCI: ci})
	for _, c := range []struct{ name, ci string }{{"no_container", d.Name("ghost")}, {"two_containers", ci}} {
		_, err := e.Execute(context.Background(), action.Request{Kind: drift.ActionKindStop, CIID: c.ci})
		if !fault.IsPermanent(err) {
			t.Fatalf("%s: %v, want a permanent error", c.name, err)
		}
	}
	if _, err := docker.New(docker.Config{Selector: []string{"=x"}}, nil); err == nil {
		t.Fatal("refuses_a_bad_config")
	}
}
