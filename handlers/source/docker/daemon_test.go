package docker_test

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"go.uber.org/zap/zaptest"

	"github.com/driftwatch/driftwatch/handlers/source/docker"
	"github.com/driftwatch/driftwatch/internal/testsupport/dockertest"
)

// TestWatcherFollowsTheRealDaemon drives real containers through every followed event.
func TestWatcherFollowsTheRealDaemon(t *testing.T) {
	t.Parallel()
	d := dockertest.Start(t)
	ci := d.Name("web")
	labels := map[string]string{docker.LabelCI: ci}
	before := d.Run("before", labels)
	d.Run("unlabelled", nil)

	rec := newRecorder()
	w, err := docker.New(docker.Config{Selector: []string{d.Selector()}}, docker.Deps{Daemon: d.Client, Emitter: rec, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	rec.waitFor(t, ci, "running", "bridge")
	steps := []struct {
		name     string
		do       func()
		power    string
		networks []string
	}{
		{"reports_a_stop", func() { d.Stop(before) }, "stopped", []string{"bridge"}},
		{"reports_a_start", func() { d.StartContainer(before) }, "running", []string{"bridge"}},
		{"reports_a_pause", func() {
			d.Do("pause", func(ctx context.Context) error { return d.Client.ContainerPause(ctx, before) })
		}, "paused", []string{"bridge"}},
		{"reports_an_unpause", func() {
			d.Do("unpause", func(ctx context.Context) error { return d.Client.ContainerUnpause(ctx, before) })
		}, "running", []string{"bridge"}},
		{"reports_a_network_connect", func() { d.Connect(d.Network("dmz"), before) }, "running", []string{"bridge", d.Name("dmz")}},
		{"reports_a_network_disconnect", func() { d.Disconnect("bridge", before) }, "running", []string{d.Name("dmz")}},
		{"reports_a_kill", func() {
			d.Do("kill", func(ctx context.Context) error { return d.Client.ContainerKill(ctx, before, "KILL") })
		}, "stopped", []string{d.Name("dmz")}},
		{"reports_a_restart", func() {
			d.Do("restart", func(ctx context.Context) error {
				return d.Client.ContainerRestart(ctx, before, container.StopOptions{})
			})
		}, "running", []string{d.Name("dmz")}},
		{"reports_a_removal", func() {
			d.Do("remove", func(ctx context.Context) error {
				return d.Client.ContainerRemove(ctx, before, container.RemoveOptions{Force: true})
			})
		}, "removed", nil},
	}
	for _, s := range steps {
		start := time.Now()
		s.do()
		rec.waitFor(t, ci, s.power, s.networks...)
		t.Logf("%s: reported %s after %s", s.name, s.power, time.Since(start).Round(time.Millisecond))
	}

	later := d.Name("later")
	d.Create("later", map[string]string{docker.LabelCI: later, docker.LabelCIType: "vm"})
	if obs := rec.waitFor(t, later, "stopped", "bridge"); obs.ciType != "vm" {
		t.Fatalf("reports_a_created_container_with_its_type: %+v", obs)
	}
	for _, o := range rec.all() {
		if o.ciID != ci && o.ciID != later {
			t.Fatalf("reports_only_labelled_containers: %+v", o)
		}
	}
}
