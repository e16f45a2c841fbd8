package main_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	goredis "github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/driftwatch/driftwatch/internal/testsupport/dockertest"
	"github.com/driftwatch/driftwatch/internal/testsupport/esdbfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// composeFile is the deployment under test, relative to this package.
const composeFile = "../../deploy/compose.yaml"

// imageUID is the user the image runs its roles as (deploy/Dockerfile).
const imageUID = 65532

// TestDockerImageServesOnAFreshNamedVolume builds the image as deploy/build-image.sh does where
// nothing can be pulled, and runs `serve` on its embedded defaults with a fresh named volume on
// its data dir, its port published on 127.0.0.1 as compose does: /healthz answers, and the
// data dir holds what serve wrote, owned by the image's user, the admin token among it.
func TestDockerImageServesOnAFreshNamedVolume(t *testing.T) {
	t.Parallel()
	d := dockertest.Start(t)
	img := buildImage(t, d)
	vol := newVolume(t, d, "serve-data")
	id := createContainer(t, d, "serve", &container.Config{
		Image: img, Cmd: []string{"serve"}, Labels: d.Labels(nil),
		ExposedPorts: nat.PortSet{"8080/tcp": {}},
	}, &container.HostConfig{
		Mounts:       []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/data"}},
		PortBindings: nat.PortMap{"8080/tcp": {{HostIP: "127.0.0.1"}}},
	})
	startContainer(t, d, id)
	url := "http://" + publishedAddr(t, d, id, "8080/tcp")
	proctest.WaitUntil(t, 30*time.Second, "serve in the image answers /healthz", func() bool {
		exitedEarly(t, d, "serve", id)
		return proctest.GetOK(url + "/healthz")
	})

	files := dataDir(t, d, id)
	for _, name := range []string{"admin-token", "events", "bus.db", "projections.db"} {
		f, ok := files[name]
		switch {
		case !ok:
			t.Errorf("/data has no %s; it holds %v", name, names(files))
		case f.Uid != imageUID:
			t.Errorf("/data/%s is owned by %d, want %d", name, f.Uid, imageUID)
		}
	}
	if root := files["."]; root.Uid != imageUID {
		t.Errorf("the fresh volume's root is owned by %d, want %d (the image's /data)", root.Uid, imageUID)
	}
	tok := strings.TrimSpace(string(files["admin-token"].data))
	if mode := files["admin-token"].Mode & 0o777; mode != 0o600 {
		t.Errorf("admin-token has mode %o, want 600", mode)
	}
	if code := proctest.DoJSONAs(t, tok, http.MethodGet, url+"/drift/report", nil, nil); code != http.StatusOK {
		t.Errorf("GET /drift/report with the token from /data/admin-token: %d, want 200", code)
	}
	stopContainer(t, d, id)
}

// TestDockerComposeRolesRunAsDeclared checks that deploy/compose.yaml validates, then runs each
// driftwatch service of it from the image with the command, user and volumes compose declares
// (fresh named volumes, the Docker socket), on the host's network so that the addresses in
// its environment can point at a real Redis and an EventStoreDB fake on 127.0.0.1: every
// stage joins its consumer group, and a labelled container travels through all of them
// (docker-source, ingest, enrich, diff, policy, emit) to an open drift at the API.
func TestDockerComposeRolesRunAsDeclared(t *testing.T) {
	t.Parallel()
	d := dockertest.Start(t)
	services := composeConfig(t, d)
	img := buildImage(t, d)
	redis := redistest.Start(t)
	store := esdbfake.Start(t)
	apiAddr := proctest.FreeAddr(t)
	quarantine := d.Name("quarantine")
	t.Cleanup(func() { d.RemoveNetwork(quarantine) })
	// The addresses compose gives are those of its own network; here they are the test's.
	overrides := map[string]string{
		"DRIFTWATCH_REDIS_URL":      redis.URL(),
		"DRIFTWATCH_EVENTSTORE_URL": store.URL(),
		"DRIFTWATCH_HTTP":           apiAddr,
	}

	declared := composeVolumes(t, d)
	roles := map[string]string{} // service name -> container id
	for _, name := range sortedKeys(services) {
		svc := services[name]
		if svc.Build == nil {
			continue
		}
		if svc.Image == "" || len(svc.Command) == 0 {
			t.Fatalf("service %s builds the image but names no image or command", name)
		}
		for _, key := range []string{"DRIFTWATCH_REDIS_URL", "DRIFTWATCH_EVENTSTORE_URL"} {
			if svc.Environment[key] == "" {
				t.Errorf("service %s has no %s", name, key)
			}
		}
		env := []string{
			// Act only on this test's containers, and quarantine into its own network.
			"DRIFTWATCH_DOCKER_SELECTOR=" + d.Selector(),
			"DRIFTWATCH_QUARANTINE_NETWORK=" + quarantine,
		}
		for k, v := range svc.Environment {
			if o, ok := overrides[k]; ok {
				v = o
			}
			env = append(env, k+"="+v)
		}
		var mounts []mount.Mount
		for _, m := range svc.Volumes {
			switch m.Type {
			case "volume":
				if !slices.Contains(declared, m.Source) {
					t.Errorf("service %s mounts volume %s, which compose does not declare", name, m.Source)
				}
				mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: newVolume(t, d, name+"-"+m.Source), Target: m.Target, ReadOnly: m.ReadOnly})
			case "bind":
				mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
			default:
				t.Fatalf("service %s: mount %+v of an unknown type", name, m)
			}
		}
		roles[name] = createContainer(t, d, name, &container.Config{
			Image: img, Cmd: svc.Command, User: svc.User, Env: env, Labels: d.Labels(nil),
		}, &container.HostConfig{NetworkMode: "host", Mounts: mounts})
	}
	for _, want := range []string{"api", "ingest", "enrich", "diff", "policy", "emit", "action", "docker-source"} {
		if _, ok := roles[want]; !ok {
			t.Fatalf("compose has no driftwatch service %s; it has %v", want, sortedKeys(roles))
		}
	}
	for _, name := range sortedKeys(roles) {
		startContainer(t, d, roles[name])
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range sortedKeys(roles) {
				t.Logf("logs of %s:\n%s", name, logs(d, roles[name]))
			}
		}
	})

	allRunning := func() {
		for _, name := range sortedKeys(roles) {
			exitedEarly(t, d, name, roles[name])
		}
	}
	s := &server{t: t, url: "http://" + apiAddr}
	proctest.WaitUntil(t, 30*time.Second, "the api service answers /healthz", func() bool {
		allRunning()
		return proctest.GetOK(s.url + "/healthz")
	})
	// The consumer groups are the stages' names (README, "Wire format").
	groups := []string{"ingest", "enrich", "diff", "policy", "emit", "action", "action-run"}
	rc := redis.Client()
	var have []string
	defer func() {
		if t.Failed() {
			t.Logf("consumer groups on Redis: %v", have)
		}
	}()
	proctest.WaitUntil(t, 60*time.Second, fmt.Sprintf("consumer groups %v on Redis", groups), func() bool {
		allRunning()
		have = consumerGroups(rc)
		return !slices.ContainsFunc(groups, func(g string) bool { return !slices.Contains(have, g) })
	})

	// A labelled container without a template is a finding (README, "Unmanaged containers").
	ci := d.Name("unmanaged")
	d.Run("unmanaged", map[string]string{labelCI: ci})
	proctest.WaitUntil(t, 60*time.Second, ci+" has an open drift at the api service", func() bool {
		allRunning()
		return len(s.driftsOf(ci, "open")) == 1
	})

	// Every role that keeps read models wrote them to the data dir it was given.
	for _, name := range []string{"api", "enrich", "diff"} {
		files := dataDir(t, d, roles[name])
		var db []string
		for n, f := range files {
			if strings.HasSuffix(n, ".db") && f.Uid == imageUID {
				db = append(db, n)
			}
		}
		if len(db) == 0 {
			t.Errorf("service %s wrote no read models owned by %d to /data: %v", name, imageUID, names(files))
		}
	}
	for _, name := range sortedKeys(roles) {
		stopContainer(t, d, roles[name])
	}
}

// composeService is one service of `compose config`, as v1 (docker-compose) and v2
// (docker compose) print it.
type composeService struct {
	Build       any               `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	User        string            `yaml:"user"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []composeMount    `yaml:"volumes"`
	Ports       []composePort     `yaml:"ports"`
}

// composeMount is a service's volume: "source:target[:mode]" (v1) or the long syntax (v2).
type composeMount struct {
	Type     string `yaml:"type"`
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only"`
}

func (m *composeMount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		type long composeMount
		return n.Decode((*long)(m))
	}
	parts := strings.Split(n.Value, ":")
	if len(parts) < 2 {
		return fmt.Errorf("volume %q: want source:target", n.Value)
	}
	m.Source, m.Target = parts[0], parts[1]
	m.ReadOnly = len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
	m.Type = "volume"
	if strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, ".") {
		m.Type = "bind"
	}
	return nil
}

// composePort is a published port: "host_ip:published:target[/proto]" (v1) or the long
// syntax (v2); only its host address matters here.
type composePort struct {
	HostIP string `yaml:"host_ip"`
}

func (p *composePort) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		type long composePort
		return n.Decode((*long)(p))
	}
	if parts := strings.Split(n.Value, ":"); len(parts) == 3 {
		p.HostIP = parts[0]
	}
	return nil
}

// composeTool is the Compose command here: docker compose (v2) or docker-compose (v1).
func composeTool(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	testenv.Missing(t, "neither docker compose nor docker-compose found: apt-get install docker-compose")
	return nil
}

// composeRun runs the Compose tool on the compose file with args and returns its output.
func composeRun(t *testing.T, d *dockertest.Daemon, args ...string) []byte {
	t.Helper()
	tool := composeTool(t)
	args = append(append(tool[1:], "-p", d.ID, "-f", composeFile), args...)
	cmd := exec.Command(tool[0], args...)
	cmd.Env = append(os.Environ(), "DRIFTWATCH_ADMIN_TOKEN="+adminToken)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool[0], strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// composeConfig validates the compose file and returns its services as Compose resolves them;
// every published port must bind 127.0.0.1.
func composeConfig(t *testing.T, d *dockertest.Daemon) map[string]composeService {
	t.Helper()
	var cfg struct {
		Services map[string]composeService `yaml:"services"`
	}
	out := composeRun(t, d, "config")
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("compose config: %v\n%s", err, out)
	}
	for name, s := range cfg.Services {
		for _, p := range s.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes a port on %q, want 127.0.0.1", name, p.HostIP)
			}
		}
	}
	return cfg.Services
}

// composeVolumes returns the named volumes the compose file declares.
func composeVolumes(t *testing.T, d *dockertest.Daemon) []string {
	t.Helper()
	return strings.Fields(string(composeRun(t, d, "config", "--volumes")))
}

// buildImage builds the driftwatch image with deploy/build-image.sh under a tag of the test's
// own, removed when the test ends.
func buildImage(t *testing.T, d *dockertest.Daemon) string {
	t.Helper()
	tag := "driftwatch-image-test:" + d.ID
	// A bound on a hung build, not a speed claim: on a clean clone the script compiles
	// driftwatch from a cold cache (CGO_ENABLED=0, -trimpath) while the rest of the suite
	// competes for the same cores, which took over 3 minutes on 2 cores.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../../deploy/build-image.sh", tag, "--label", dockertest.LabelTest+"="+d.ID)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = d.Client.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/build-image.sh: %v\n%s", err, out)
	}
	return tag
}

// newVolume creates a fresh named volume with the test label, removed when the test ends.
func newVolume(t *testing.T, d *dockertest.Daemon, suffix string) string {
	t.Helper()
	name := d.Name(suffix)
	d.Do("create volume "+name, func(ctx context.Context) error {
		_, err := d.Client.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: d.Labels(nil)})
		return err
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = d.Client.VolumeRemove(ctx, name, true)
	})
	return name
}

// createContainer creates a container named Name(suffix), removed (with its anonymous
// volumes) when the test ends.
func createContainer(t *testing.T, d *dockertest.Daemon, suffix string, cfg *container.Config, host *container.HostConfig) string {
	t.Helper()
	var id string
	d.Do("create "+d.Name(suffix), func(ctx context.Context) error {
		resp, err := d.Client.ContainerCreate(ctx, cfg, host, nil, nil, d.Name(suffix))
		id = resp.ID
		return err
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = d.Client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	return id
}

func startContainer(t *testing.T, d *dockertest.Daemon, id string) {
	t.Helper()
	d.Do("start "+dockertest.ShortID(id), func(ctx context.Context) error {
		return d.Client.ContainerStart(ctx, id, container.StartOptions{})
	})
}

// stopContainer stops a container with SIGTERM and checks that it shut down cleanly.
func stopContainer(t *testing.T, d *dockertest.Daemon, id string) {
	t.Helper()
	timeout := 15
	d.Do("stop "+dockertest.ShortID(id), func(ctx context.Context) error {
		return d.Client.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout})
	})
	var c container.InspectResponse
	d.Do("inspect "+dockertest.ShortID(id), func(ctx context.Context) (err error) {
		c, err = d.Client.ContainerInspect(ctx, id)
		return err
	})
	if c.State.ExitCode != 0 {
		t.Errorf("%s exited with %d on SIGTERM, want 0:\n%s", c.Name, c.State.ExitCode, logs(d, id))
	}
}

// exitedEarly fails the test at once, with the container's output, when it is no longer
// running.
func exitedEarly(t *testing.T, d *dockertest.Daemon, name, id string) {
	t.Helper()
	var c container.InspectResponse
	d.Do("inspect "+dockertest.ShortID(id), func(ctx context.Context) (err error) {
		c, err = d.Client.ContainerInspect(ctx, id)
		return err
	})
	if !c.State.Running {
		t.Fatalf("%s exited with %d:\n%s", name, c.State.ExitCode, logs(d, id))
	}
}

// publishedAddr is the 127.0.0.1 address a container's port is published on.
func publishedAddr(t *testing.T, d *dockertest.Daemon, id string, port nat.Port) string {
	t.Helper()
	var c container.InspectResponse
	d.Do("inspect "+dockertest.ShortID(id), func(ctx context.Context) (err error) {
		c, err = d.Client.ContainerInspect(ctx, id)
		return err
	})
	for _, b := range c.NetworkSettings.Ports[port] {
		if b.HostIP == "127.0.0.1" {
			return "127.0.0.1:" + b.HostPort
		}
	}
	t.Fatalf("port %s of %s is not published on 127.0.0.1: %+v", port, c.Name, c.NetworkSettings.Ports)
	return ""
}

// dataFile is an entry of a container's /data, by its path below /data ("." is /data).
type dataFile struct {
	*tar.Header
	data []byte
}

// dataDir reads a container's /data through the daemon (the image has no shell).
func dataDir(t *testing.T, d *dockertest.Daemon, id string) map[string]dataFile {
	t.Helper()
	files := map[string]dataFile{}
	d.Do("copy /data from "+dockertest.ShortID(id), func(ctx context.Context) error {
		rc, _, err := d.Client.CopyFromContainer(ctx, id, "/data")
		if err != nil {
			return err
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			rel := strings.TrimPrefix(path.Clean(h.Name), "data")
			rel = strings.TrimPrefix(rel, "/")
			if rel == "" {
				rel = "."
			}
			f := dataFile{Header: h}
			if h.Typeflag == tar.TypeReg && h.Size < 1<<10 {
				if f.data, err = io.ReadAll(tr); err != nil {
					return err
				}
			}
			files[rel] = f
		}
	})
	return files
}

// consumerGroups lists the consumer groups of every stream on the server.
func consumerGroups(rc *goredis.Client) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	iter := rc.ScanType(ctx, 0, "*", 100, "stream").Iterator()
	for iter.Next(ctx) {
		groups, err := rc.XInfoGroups(ctx, iter.Val()).Result()
		if err != nil {
			continue
		}
		for _, g := range groups {
			out = append(out, g.Name)
		}
	}
	return out
}

// logs returns the tail of a container's output.
func logs(d *dockertest.Daemon, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := d.Client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "40"})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, rc)
	return buf.String()
}

func names(files map[string]dataFile) []string { return sortedKeys(files) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
