package docker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/source/docker"
)

var ciLabels = map[string]string{docker.LabelCI: "web-1", "env": "test"}

// start runs a watcher over d and rec until the test ends, and returns the first stream.
func start(t *testing.T, d *fakeDaemon, rec *recorder, cfg docker.Config) *fakeStream {
	t.Helper()
	return startWithClock(t, d, rec, cfg, time.Now)
}

func startWithClock(t *testing.T, d *fakeDaemon, rec *recorder, cfg docker.Config, now func() time.Time) *fakeStream {
	t.Helper()
	if cfg.Debounce == 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 10*time.Millisecond
	w, err := docker.New(cfg, docker.Deps{Daemon: d, Emitter: rec, Logger: zap.NewNop(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return nextStream(t, d)
}

func nextStream(t *testing.T, d *fakeDaemon) *fakeStream {
	t.Helper()
	select {
	case s := <-d.streams:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not subscribe")
		return nil
	}
}

// settle proves that the watcher handled everything sent before: it creates a sentinel
// container, announces it, and waits for its report.
func settle(t *testing.T, d *fakeDaemon, rec *recorder, name string) {
	t.Helper()
	d.set(name, "running", map[string]string{docker.LabelCI: name, "env": "test"}, "bridge")
	d.send(t, name, events.ActionStart, time.Now())
	rec.waitFor(t, name, "running", "bridge")
}

func TestWatcherReportsEveryLabelledContainerAtStart(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "running", ciLabels, "lan", "bridge")
	d.set("c2", "exited", map[string]string{docker.LabelCI: "db-1", docker.LabelCIType: "vm", docker.LabelTemplate: "db", "env": "test"})
	d.set("c3", "paused", map[string]string{docker.LabelCI: "other-env", "env": "prod"}, "bridge")
	d.set("c4", "running", map[string]string{"env": "test"}, "bridge")
	s := start(t, d, rec, docker.Config{Selector: []string{"env=test"}})

	web := rec.waitFor(t, "web-1", "running", "bridge", "lan")
	db := rec.waitFor(t, "db-1", "stopped")
	if web.ciType != "container" || db.ciType != "vm" || db.templateID != "db" {
		t.Fatalf("takes_type_and_template_from_labels: web %+v db %+v", web, db)
	}
	if web.details["/power_state"] == "" || web.details["/networks"] == "" {
		t.Fatalf("explains_each_field: %v", web.details)
	}
	settle(t, d, rec, "sentinel")
	if got := len(rec.all()); got != 3 {
		t.Fatalf("ignores_unlabelled_and_unselected_containers: %d observations %+v", got, rec.all())
	}
	if calls := d.callLog(); !slices.Equal(calls[:3], []string{"info", "events", "list"}) {
		t.Fatalf("subscribes_before_it_lists: calls %v", calls)
	}
	if s.since == "" {
		t.Fatal("subscribes_from_the_daemon_time: no since")
	}
}

func TestWatcherCoalescesABurstIntoOneReportOfTheLatestState(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "running", ciLabels, "bridge")
	start(t, d, rec, docker.Config{Debounce: 200 * time.Millisecond})
	rec.waitFor(t, "web-1", "running", "bridge")
	before := d.inspections("c1")

	for i := range 40 {
		status := []string{"paused", "running", "exited"}[i%3]
		d.set("c1", status, ciLabels, "bridge")
		d.send(t, "c1", events.ActionPause, time.Now())
	}
	d.set("c1", "exited", ciLabels)
	d.send(t, "c1", events.ActionDie, time.Now())
	rec.waitFor(t, "web-1", "stopped")
	settle(t, d, rec, "sentinel")

	if n := len(rec.of("web-1")); n != 2 {
		t.Fatalf("reports_once_per_burst: %d observations of web-1: %+v", n, rec.of("web-1"))
	}
	if n := d.inspections("c1") - before; n > 2 {
		t.Fatalf("inspects_once_per_burst: %d inspections", n)
	}
}

func TestWatcherReportsOnlyChanges(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "running", ciLabels, "bridge")
	start(t, d, rec, docker.Config{})
	first := rec.waitFor(t, "web-1", "running", "bridge")

	d.send(t, "c1", events.ActionRestart, time.Now())
	settle(t, d, rec, "sentinel-1")
	if n := len(rec.of("web-1")); n != 1 {
		t.Fatalf("does_not_report_an_unchanged_container: %d observations", n)
	}

	d.set("c1", "running", ciLabels, "bridge", "dmz")
	d.sendNetwork(t, "c1", "dmz", events.ActionConnect)
	second := rec.waitFor(t, "web-1", "running", "bridge", "dmz")
	if second.id == first.id || !second.at.After(first.at) {
		t.Fatalf("gives_each_observation_its_own_id_and_a_later_time: %+v then %+v", first, second)
	}

	d.set("stranger", "running", map[string]string{"env": "test"}, "bridge", "dmz")
	d.sendNetwork(t, "stranger", "dmz", events.ActionConnect)
	settle(t, d, rec, "sentinel-2")
	if d.inspections("stranger") != 0 {
		t.Fatal("ignores_network_events_of_unwatched_containers")
	}
}

func TestWatcherReportsARemovedContainer(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "exited", ciLabels)
	start(t, d, rec, docker.Config{})
	rec.waitFor(t, "web-1", "stopped")
	d.send(t, "c1", events.ActionDestroy, time.Now()) // the event still carries the labels
	d.remove("c1")
	rec.waitFor(t, "web-1", "removed")
}

func TestWatcherReconnectsAndReportsWhatItMissed(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "running", ciLabels, "bridge")
	start(t, d, rec, docker.Config{})
	rec.waitFor(t, "web-1", "running", "bridge")

	// While the stream is down, c1 stops and c2 appears: no events say so.
	d.set("c1", "exited", ciLabels, "bridge")
	d.set("c2", "running", map[string]string{docker.LabelCI: "web-2"}, "bridge")
	d.breakStream(errors.New("unexpected EOF"))
	nextStream(t, d)
	rec.waitFor(t, "web-1", "stopped", "bridge")
	rec.waitFor(t, "web-2", "running", "bridge")

	// A failed publication breaks the session too, and nothing is lost.
	rec.setFail(errors.New("bus down"))
	d.set("c2", "paused", map[string]string{docker.LabelCI: "web-2"}, "bridge")
	d.send(t, "c2", events.ActionPause, time.Now())
	nextStream(t, d)
	rec.setFail(nil)
	rec.waitFor(t, "web-2", "paused", "bridge")
}

func TestWatcherInspectsEverythingWhenEventsLag(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "running", ciLabels, "bridge")
	d.set("c2", "running", map[string]string{docker.LabelCI: "web-2"}, "bridge")
	var late atomic.Int64 // how far the watcher's clock runs ahead of the daemon's
	startWithClock(t, d, rec, docker.Config{LagThreshold: time.Second}, func() time.Time {
		return time.Now().Add(time.Duration(late.Load()))
	})
	rec.waitFor(t, "web-2", "running", "bridge")

	// c2 stopped, but the daemon dropped its events; c1's event, delivered 5s after the
	// daemon emitted it, gives it away.
	d.set("c2", "exited", map[string]string{docker.LabelCI: "web-2"}, "bridge")
	late.Store(int64(5 * time.Second))
	d.send(t, "c1", events.ActionKill, time.Now())
	rec.waitFor(t, "web-2", "stopped", "bridge")
}

func TestWatcherResyncsPeriodically(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "exited", ciLabels, "bridge")
	start(t, d, rec, docker.Config{ResyncInterval: 50 * time.Millisecond, StoppedInterval: -1})
	rec.waitFor(t, "web-1", "stopped", "bridge")
	// The daemon emits no event when a stopped container is connected to a network.
	d.set("c1", "exited", ciLabels, "bridge", "dmz")
	rec.waitFor(t, "web-1", "stopped", "bridge", "dmz")
}

func TestWatcherLooksAgainAtStoppedContainersOnly(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.set("c1", "exited", ciLabels, "bridge")
	d.set("c2", "running", map[string]string{docker.LabelCI: "web-2"}, "bridge")
	start(t, d, rec, docker.Config{ResyncInterval: -1, StoppedInterval: 50 * time.Millisecond})
	rec.waitFor(t, "web-1", "stopped", "bridge")
	rec.waitFor(t, "web-2", "running", "bridge")
	running := d.inspections("c2")
	// The daemon emits no event when a stopped container is connected to a network.
	d.set("c1", "exited", ciLabels, "bridge", "dmz")
	rec.waitFor(t, "web-1", "stopped", "bridge", "dmz")
	if n := d.inspections("c2"); n != running {
		t.Errorf("the running container was inspected %d times more without an event", n-running)
	}
	if n := len(rec.of("web-1")); n != 2 {
		t.Errorf("web-1 reported %d times, want twice: once stopped, once connected", n)
	}
}

func TestWatcherKeepsRetryingAnUnreachableDaemon(t *testing.T) {
	t.Parallel()
	d, rec := newFakeDaemon(), newRecorder()
	d.listFails = errors.New("connection refused")
	d.set("c1", "running", ciLabels, "bridge")
	start(t, d, rec, docker.Config{})
	nextStream(t, d)
	nextStream(t, d)
	d.mu.Lock()
	d.listFails = nil
	d.mu.Unlock()
	rec.waitFor(t, "web-1", "running", "bridge")
}

func TestNewRefusesBadConfigAndMissingDependencies(t *testing.T) {
	t.Parallel()
	_, err := docker.New(docker.Config{Selector: []string{"=x"}, Debounce: -1}, docker.Deps{})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"selector[0]", "debounce", "daemon: required", "emitter: required", "logger: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
