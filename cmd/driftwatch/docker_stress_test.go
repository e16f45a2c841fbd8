package main_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"golang.org/x/sync/errgroup"

	"github.com/driftwatch/driftwatch/internal/testsupport/dockertest"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
)

// churner changes a test's containers at random through the Docker API.
type churner struct {
	d        *dockertest.Daemon
	ids      []string
	networks []string
	ops      atomic.Int64 // changes asked for
	refused  atomic.Int64 // changes the daemon refused
}

// step makes one random change to container id that its current state allows, so that
// every step makes the daemon emit events.
func (c *churner) step(rng *rand.Rand, id string) error {
	// Changes are never cut short: once the churn stops, the daemon's state is settled.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := c.d.Client
	info, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	var attached, free []string
	for _, n := range c.networks {
		if _, ok := info.NetworkSettings.Networks[n]; ok {
			attached = append(attached, n)
		} else {
			free = append(free, n)
		}
	}
	timeout := 1
	type op struct {
		name string
		do   func() error
	}
	var ops []op
	// Pauses are cheap: they come thrice as often, so that the churn is quick.
	switch {
	case info.State.Paused:
		unpause := op{"unpause", func() error { return cli.ContainerUnpause(ctx, id) }}
		ops = append(ops, unpause, unpause, unpause, op{"stop", func() error {
			return cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout})
		}})
	case info.State.Running:
		pause := op{"pause", func() error { return cli.ContainerPause(ctx, id) }}
		ops = append(ops, pause, pause, pause, op{"stop", func() error {
			return cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout})
		}})
	default:
		ops = append(ops, op{"start", func() error { return cli.ContainerStart(ctx, id, container.StartOptions{}) }})
	}
	if len(free) > 0 {
		n := free[rng.IntN(len(free))]
		ops = append(ops, op{"connect", func() error { return cli.NetworkConnect(ctx, n, id, nil) }})
	}
	if len(attached) > 0 {
		n := attached[rng.IntN(len(attached))]
		ops = append(ops, op{"disconnect", func() error { return cli.NetworkDisconnect(ctx, n, id, false) }})
	}
	chosen := ops[rng.IntN(len(ops))]
	name := chosen.name
	err = chosen.do()
	c.ops.Add(1)
	if err != nil && client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err != nil {
		// The daemon sometimes refuses a change its own inspection allowed a moment before
		// (a stop of a paused container unpauses it on the way); that is churn too.
		c.refused.Add(1)
	}
	return nil
}

// waitOps waits until the churn made target changes, failing the test if it failed.
func (c *churner) waitOps(t *testing.T, done <-chan error, target int64, what string) {
	t.Helper()
	proctest.WaitUntil(t, 60*time.Second, what, func() bool {
		select {
		case err := <-done:
			t.Fatalf("the churn stopped: %v", err)
		default:
		}
		return c.ops.Load() >= target
	})
}

// run changes every container at random until ctx ends.
func (c *churner) run(ctx context.Context, seed uint64) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, id := range c.ids {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		g.Go(func() error {
			for ctx.Err() == nil {
				if err := c.step(rng, id); err != nil {
					return fmt.Errorf("churn %s: %w", dockertest.ShortID(id), err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// setupChurn runs n labelled containers on the default bridge, with two extra networks to
// move them between.
func setupChurn(t *testing.T, d *dockertest.Daemon, n int) *churner {
	c := &churner{d: d, networks: []string{"bridge", d.Network("a"), d.Network("b")}}
	for i := range n {
		name := fmt.Sprintf("c%d", i)
		c.ids = append(c.ids, d.Run(name, map[string]string{labelCI: d.Name(name)}))
	}
	return c
}

// countEvents counts the daemon's events about the churner's containers (container events
// and network connects and disconnects) until ctx ends.
func (c *churner) countEvents(ctx context.Context) *atomic.Int64 {
	var n atomic.Int64
	ids := map[string]bool{}
	for _, id := range c.ids {
		ids[id] = true
	}
	msgs, errs := c.d.Client.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", "container"), filters.Arg("type", "network"))})
	go func() {
		for {
			select {
			case m := <-msgs:
				if ids[m.Actor.ID] || ids[m.Actor.Attributes["container"]] {
					n.Add(1)
				}
			case <-errs:
				return
			}
		}
	}()
	return &n
}

func TestDockerWatcherStoppedThroughThreeHundredEventsReportsTheDaemonsStateWithinTenSeconds(t *testing.T) {
	t.Parallel()
	requireDockerCLI(t)
	d := dockertest.Start(t)
	s := startServer(t, t.TempDir(), dockerFlags(t, d)...)
	c := setupChurn(t, d, 6)
	proctest.WaitUntil(t, 20*time.Second, "driftwatch reports every container", func() bool {
		ok, _ := matches(s, truth(t, d))
		return ok
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := c.countEvents(ctx)
	if err := s.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Signal(syscall.SIGCONT) })
	churned := time.Now()
	churn, stopChurn := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.run(churn, rand.Uint64()) }()
	proctest.WaitUntil(t, 60*time.Second, "more than 300 events", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the churn stopped: %v", err)
		default:
		}
		return seen.Load() > 300
	})
	stopChurn()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	events, took := seen.Load(), time.Since(churned)

	if err := s.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if ok, why := converge(s, truth(t, d), 10*time.Second); !ok {
		t.Fatalf("10 s after SIGCONT: %s", why)
	}
	if !strings.Contains(s.Output.String(), "inspecting every container") {
		t.Errorf("the watcher did not notice it had been stopped")
	}
	t.Logf("%d events (%d changes in %s) while stopped; state right %s after SIGCONT", events, c.ops.Load(), took.Round(time.Millisecond), time.Since(resumed).Round(time.Millisecond))
}

// converge waits up to within until driftwatch reports every CI as docker shows it.
func converge(s *server, want map[string]reported, within time.Duration) (bool, string) {
	deadline := time.Now().Add(within)
	for {
		ok, why := matches(s, want)
		if ok || time.Now().After(deadline) {
			return ok, why
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSourceWorker runs a `driftwatch worker docker-source` process.
func startSourceWorker(t *testing.T, args ...string) *proctest.Process {
	t.Helper()
	return runWorker(t, "docker-source worker", "docker-source", append([]string{"--log-level", "info"}, args...)...)
}

func TestDockerWatcherRestartedWhileContainersChurnEndsRightTwentyRunsOutOfTwenty(t *testing.T) {
	t.Parallel()
	requireDockerCLI(t)
	d := dockertest.Start(t)
	redis := redistest.Start(t)
	flags := append([]string{"--redis", redis.URL()}, dockerFlags(t, d)...)
	s := startServer(t, t.TempDir(), flags...)
	c := setupChurn(t, d, 3)
	w := startSourceWorker(t, flags...)
	proctest.WaitUntil(t, 20*time.Second, "driftwatch reports every container", func() bool {
		ok, _ := matches(s, truth(t, d))
		return ok
	})

	const runs = 20
	right := 0
	for run := range runs {
		rng := rand.New(rand.NewPCG(uint64(run), 42))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := c.ops.Load()
		seed := rng.Uint64()
		go func() { done <- c.run(ctx, seed) }()

		// Restart the watcher in the middle of the churn: killed on odd runs, stopped
		// gracefully on even ones.
		killAt := start + 1 + rng.Int64N(5)
		c.waitOps(t, done, killAt, "some changes before the restart")
		if run%2 == 1 {
			w.Kill()
		} else {
			w.Stop()
		}
		restarted := time.Now()
		w = startSourceWorker(t, flags...)
		proctest.WaitUntil(t, 30*time.Second, "the new watcher follows the daemon", func() bool {
			return strings.Contains(w.Output.String(), "Following Docker events")
		})
		following := time.Since(restarted)
		stopAt := c.ops.Load() + rng.Int64N(5)
		c.waitOps(t, done, stopAt, "some changes after the restart")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		settled := time.Now()
		if ok, why := converge(s, truth(t, d), 10*time.Second); ok {
			right++
			t.Logf("run %d: new watcher following after %s, state right %s after the churn", run,
				following.Round(time.Millisecond), time.Since(settled).Round(time.Millisecond))
		} else {
			t.Errorf("run %d: 10 s after the churn: %s", run, why)
		}
	}
	t.Logf("final state right in %d of %d runs (%d changes)", right, runs, c.ops.Load())
	if right != runs {
		t.Fatalf("final state right in %d of %d runs", right, runs)
	}
}
