// Package dockertest gives a test the real Docker daemon: a client that negotiates the API
// version, a tiny image built locally from scratch around the host's static busybox (nothing
// can be pulled), and containers and networks with unique names that carry a label naming the
// test run and are removed when the test ends. Tests that use it skip (or fail under
// DRIFTWATCH_REQUIRE_ALL=1) on a machine without a daemon or without /bin/busybox.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// LabelTest is the label every container, network and image made through this package carries;
// its value is the Daemon's ID. `docker rm -f $(docker ps -aq --filter
// label=io.driftwatch.test)` clears the containers a killed test run left behind.
const LabelTest = "io.driftwatch.test"

// busybox is the static binary the test image is built around.
const busybox = "/bin/busybox"

// dockerfile makes a container that sleeps until SIGTERM and exits 0 on it, so that docker
// stop returns at once instead of waiting for its kill timeout.
const dockerfile = `FROM scratch
COPY busybox /bin/busybox
ENTRYPOINT ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; /bin/busybox sleep 1000000 & wait"]
`

// opTimeout bounds one Docker call made by the helpers.
const opTimeout = 60 * time.Second

// Daemon is the Docker daemon as one test sees it.
type Daemon struct {
	// Client talks to the daemon; its API version is negotiated.
	Client *client.Client
	// Host is the daemon's address (DOCKER_HOST, default unix:///var/run/docker.sock).
	Host string
	// ID is unique per Start: the value of LabelTest on what the test creates, and the
	// prefix of its names.
	ID string
	// Image is the test image's tag.
	Image string

	t testing.TB
}

// Start connects to the daemon and builds the test image; everything is removed when t ends.
func Start(t testing.TB) *Daemon {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		testenv.Missing(t, "Docker client for %s: %v", host, err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		_ = c.Close()
		testenv.Missing(t, "no Docker daemon at %s (set DOCKER_HOST or start dockerd): %v", host, err)
		return nil
	}
	if _, err := os.Stat(busybox); err != nil {
		_ = c.Close()
		testenv.Missing(t, "%s not found: apt-get install busybox-static", busybox)
		return nil
	}
	d := &Daemon{Client: c, Host: host, ID: "dwt-" + randomHex(4), t: t}
	t.Cleanup(func() { _ = c.Close() })
	d.Image = "driftwatch-test:" + d.ID
	d.buildImage()
	return d
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Name returns a unique name for something the test creates.
func (d *Daemon) Name(suffix string) string { return d.ID + "-" + suffix }

// Labels returns the test label with extra labels added.
func (d *Daemon) Labels(extra map[string]string) map[string]string {
	l := map[string]string{LabelTest: d.ID}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// Selector is the label requirement that selects what this test created.
func (d *Daemon) Selector() string { return LabelTest + "=" + d.ID }

// buildImage builds the test image with the legacy builder; layers are cached by the daemon,
// so every test after the first builds in a fraction of a second.
func (d *Daemon) buildImage() {
	d.t.Helper()
	bin, err := os.ReadFile(busybox)
	if err != nil {
		d.t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"busybox", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			d.t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			d.t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_, _ = d.Client.ImageRemove(ctx, d.Image, image.RemoveOptions{PruneChildren: true})
	})
	// Another test removing its image may take a cached layer away under this build: try
	// again, and the daemon builds the layer anew.
	for range 3 {
		if err = d.build(buf.Bytes()); err == nil {
			return
		}
	}
	d.t.Fatalf("build test image: %v", err)
}

// build runs one image build of the tar context.
func (d *Daemon) build(tarball []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := d.Client.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags: []string{d.Image}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
		Labels: map[string]string{LabelTest: d.ID},
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return buildError(resp.Body)
}

// buildError reads the build's JSON progress stream and returns the error it reports.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return fmt.Errorf("%s", m.Error)
		}
	}
}

// Create creates a container of the test image named Name(suffix), with the test label and
// labels, attached to the given networks (the default bridge when none), and removes it
// (forcefully) when the test ends. It does not start it.
func (d *Daemon) Create(suffix string, labels map[string]string, networks ...string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	host := &container.HostConfig{}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if len(networks) > 0 {
		host.NetworkMode = container.NetworkMode(networks[0])
		netCfg.EndpointsConfig[networks[0]] = &network.EndpointSettings{}
	}
	resp, err := d.Client.ContainerCreate(ctx, &container.Config{Image: d.Image, Labels: d.Labels(labels)},
		host, netCfg, nil, d.Name(suffix))
	if err != nil {
		d.t.Fatalf("create container %s: %v", d.Name(suffix), err)
	}
	d.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_ = d.Client.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	})
	for i := 1; i < len(networks); i++ {
		d.Connect(networks[i], resp.ID)
	}
	return resp.ID
}

// Run creates a container as Create does and starts it.
func (d *Daemon) Run(suffix string, labels map[string]string, networks ...string) string {
	d.t.Helper()
	id := d.Create(suffix, labels, networks...)
	d.Do("start "+id, func(ctx context.Context) error {
		return d.Client.ContainerStart(ctx, id, container.StartOptions{})
	})
	return id
}

// Network creates a bridge network named Name(suffix) with the test label, and removes it
// (disconnecting whatever is still attached) when the test ends. It returns the name.
func (d *Daemon) Network(suffix string) string {
	d.t.Helper()
	name := d.Name(suffix)
	d.Do("create network "+name, func(ctx context.Context) error {
		_, err := d.Client.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: d.Labels(nil)})
		return err
	})
	d.t.Cleanup(func() { d.RemoveNetwork(name) })
	return name
}

// RemoveNetwork disconnects every container from the network and removes it; a network that
// does not exist is fine.
func (d *Daemon) RemoveNetwork(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	n, err := d.Client.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return
	}
	for id := range n.Containers {
		_ = d.Client.NetworkDisconnect(ctx, name, id, true)
	}
	// Stopped containers keep their attachment in their own configuration.
	list, _ := d.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", n.ID))})
	for _, c := range list {
		_ = d.Client.NetworkDisconnect(ctx, name, c.ID, true)
	}
	_ = d.Client.NetworkRemove(ctx, name)
}

// Connect attaches a container to a network.
func (d *Daemon) Connect(networkName, id string) {
	d.t.Helper()
	d.Do("connect "+id+" to "+networkName, func(ctx context.Context) error {
		return d.Client.NetworkConnect(ctx, networkName, id, nil)
	})
}

// Disconnect detaches a container from a network.
func (d *Daemon) Disconnect(networkName, id string) {
	d.t.Helper()
	d.Do("disconnect "+id+" from "+networkName, func(ctx context.Context) error {
		return d.Client.NetworkDisconnect(ctx, networkName, id, false)
	})
}

// Stop stops a container (it exits at once on SIGTERM).
func (d *Daemon) Stop(id string) {
	d.t.Helper()
	d.Do("stop "+id, func(ctx context.Context) error {
		return d.Client.ContainerStop(ctx, id, container.StopOptions{})
	})
}

// StartContainer starts a container.
func (d *Daemon) StartContainer(id string) {
	d.t.Helper()
	d.Do("start "+id, func(ctx context.Context) error {
		return d.Client.ContainerStart(ctx, id, container.StartOptions{})
	})
}

// Do runs one Docker call with a timeout and fails the test if it fails.
func (d *Daemon) Do(what string, fn func(ctx context.Context) error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		d.t.Fatalf("docker %s: %v", what, err)
	}
}

// Inspect returns a container's docker status ("running", "exited", "paused"...) and the
// sorted names of the networks in its configuration.
func (d *Daemon) Inspect(id string) (status string, networks []string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c, err := d.Client.ContainerInspect(ctx, id)
	if err != nil {
		d.t.Fatalf("inspect %s: %v", id, err)
	}
	for n := range c.NetworkSettings.Networks {
		networks = append(networks, n)
	}
	slices.Sort(networks)
	return c.State.Status, networks
}

// ShortID is the 12-character form of a container or network id.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
