package ansible_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// ansibleTimeout bounds one ansible or ansible-playbook run.
const ansibleTimeout = 3 * time.Minute

// realRuns holds what real Ansible gathered on this machine, once per test binary.
var realRuns struct {
	once sync.Once
	// setup is the module result `ansible -m setup` printed after "localhost | SUCCESS =>";
	// packages and services are the module results `ansible -t <dir>` wrote.
	setup, packages, services []byte
	err                       error
}

// ansibleEnv is the environment of an ansible run: quiet, colourless, temp files under dir.
func ansibleEnv(dir string) []string {
	return append(os.Environ(),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_LOCALHOST_WARNING=False", "ANSIBLE_INVENTORY_UNPARSED_WARNING=False",
		"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_RETRY_FILES_ENABLED=False",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "local"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(dir, "remote"),
	)
}

// needAnsible skips, or fails under DRIFTWATCH_REQUIRE_ALL=1, without the named commands.
func needAnsible(t *testing.T, commands ...string) {
	t.Helper()
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			testenv.Missing(t, "%s is not in PATH: apt-get install ansible-core (or pip install ansible-core)", c)
		}
	}
}

// realFacts returns the three module results real Ansible produced here.
func realFacts(t *testing.T) (setup, packages, services []byte) {
	t.Helper()
	needAnsible(t, "ansible")
	realRuns.once.Do(gatherReal)
	if realRuns.err != nil {
		t.Fatal(realRuns.err)
	}
	return realRuns.setup, realRuns.packages, realRuns.services
}

// gatherReal runs the setup, package_facts and service_facts modules against localhost at
// once; the temp directory goes when all three are read, since no test owns it.
func gatherReal() {
	dir, err := os.MkdirTemp("", "driftwatch-ansible-")
	if err != nil {
		realRuns.err = err
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), ansibleTimeout)
	defer cancel()
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "ansible", append([]string{"localhost", "-c", "local"}, args...)...)
		cmd.Env = ansibleEnv(dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("ansible %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return out, nil
	}
	tree := func(module string) ([]byte, error) {
		into := filepath.Join(dir, module)
		if _, err := run("-m", module, "-t", into); err != nil {
			return nil, err
		}
		return os.ReadFile(filepath.Join(into, "localhost"))
	}
	var wg sync.WaitGroup
	var setupErr, pkgErr, svcErr error
	wg.Go(func() {
		out, err := run("-m", "setup")
		if err != nil {
			setupErr = err
			return
		}
		// The minimal callback prints "localhost | SUCCESS => {...}".
		_, result, ok := bytes.Cut(out, []byte(" => "))
		if !ok {
			setupErr = fmt.Errorf("ansible -m setup printed no result: %s", out)
			return
		}
		realRuns.setup = result
	})
	wg.Go(func() { realRuns.packages, pkgErr = tree("package_facts") })
	wg.Go(func() { realRuns.services, svcErr = tree("service_facts") })
	wg.Wait()
	realRuns.err = errors.Join(setupErr, pkgErr, svcErr)
}

// mergedDocument is the facts document collect-facts.yml would post for the three results.
func mergedDocument(t *testing.T, host string, results ...[]byte) []byte {
	t.Helper()
	merged := map[string]json.RawMessage{}
	for _, r := range results {
		var res struct {
			Facts map[string]json.RawMessage `json:"ansible_facts"`
		}
		if err := json.Unmarshal(r, &res); err != nil {
			t.Fatalf("decode module result: %v", err)
		}
		maps.Copy(merged, res.Facts)
	}
	raw, err := json.Marshal(map[string]any{"host": host, "ansible_facts": merged})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// installedPackages asks dpkg for every installed package and its version.
func installedPackages(t *testing.T) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		testenv.Missing(t, "dpkg-query is not in PATH: the package checks need a Debian host")
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}\t${Package}\t${Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	versions := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) == 3 && f[0] == "installed" {
			versions[f[1]] = append(versions[f[1]], f[2])
		}
	}
	pkgs := make(map[string]string, len(versions))
	for name, v := range versions {
		slices.Sort(v)
		pkgs[name] = strings.Join(slices.Compact(v), ", ")
	}
	return pkgs
}

func TestRealModuleResultsParse(t *testing.T) {
	t.Parallel()
	setup, pkgs, svcs := realFacts(t)
	for name, raw := range map[string][]byte{"setup": setup, "package_facts": pkgs, "service_facts": svcs} {
		f, err := ansible.Parse(raw)
		if err != nil {
			t.Errorf("parse the %s result: %v", name, err)
			continue
		}
		st := f.State()
		switch name {
		case "setup":
			if f.Hostname == "" || f.ObservedAt.IsZero() {
				t.Errorf("setup: hostname %q, observed at %s", f.Hostname, f.ObservedAt)
			}
			if d := time.Since(f.ObservedAt); d < -time.Minute || d > 10*time.Minute {
				t.Errorf("setup: observed at %s, %s from now", f.ObservedAt, d)
			}
			if _, ok := st["firmware"]; !ok || len(st) != 1 {
				t.Errorf("setup: state %v, want firmware only", st)
			}
		case "package_facts":
			if _, ok := st["packages"]; !ok || len(st) != 1 {
				t.Errorf("package_facts: state members %v, want packages only", slices.Sorted(maps.Keys(st)))
			}
		case "service_facts":
			if _, ok := st["services"]; !ok || len(st) != 1 {
				t.Errorf("service_facts: state members %v, want services only", slices.Sorted(maps.Keys(st)))
			}
		}
	}
}

func TestRealPackagesMatchDpkg(t *testing.T) {
	t.Parallel()
	_, pkgs, _ := realFacts(t)
	want := installedPackages(t)
	bash, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "bash").Output()
	if err != nil {
		t.Fatalf("dpkg-query bash: %v", err)
	}
	f, err := ansible.Parse(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	got := f.State()["packages"].(map[string]any)
	if got["bash"] != string(bash) {
		t.Errorf("bash %v, dpkg says %s", got["bash"], bash)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("package %s: %v, dpkg says %s", name, got[name], v)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("package %s is not installed according to dpkg", name)
		}
	}
}

func TestRealServicesHaveStateAndBootSetting(t *testing.T) {
	t.Parallel()
	_, _, svcs := realFacts(t)
	var raw struct {
		Facts struct {
			Services map[string]map[string]any `json:"services"`
		} `json:"ansible_facts"`
	}
	if err := json.Unmarshal(svcs, &raw); err != nil {
		t.Fatal(err)
	}
	f, err := ansible.Parse(svcs)
	if err != nil {
		t.Fatal(err)
	}
	got := f.State()["services"].(map[string]any)
	if len(got) == 0 {
		t.Fatal("no services")
	}
	for key, s := range raw.Facts.Services {
		name := strings.TrimSuffix(key, ".service")
		svc, ok := got[name].(map[string]any)
		if !ok {
			t.Errorf("service %s (%s) is missing: %v", name, key, got[name])
			continue
		}
		if svc["state"] != s["state"] {
			t.Errorf("service %s: state %v, service_facts says %v", name, svc["state"], s["state"])
		}
		status, reported := s["status"].(string)
		if enabled, has := svc["enabled"]; has != reported || (reported && enabled != (status == "enabled")) {
			t.Errorf("service %s: enabled %v (present %v), service_facts status %q", name, enabled, has, status)
		}
	}
}

func TestRealFirmwareFollowsDMI(t *testing.T) {
	t.Parallel()
	setup, _, _ := realFacts(t)
	f, err := ansible.Parse(setup)
	if err != nil {
		t.Fatal(err)
	}
	fw := f.State()["firmware"].(map[string]any)
	// The setup module reads these files; an unreadable one is "NA" and left out.
	files := map[string]string{"bios_version": "bios_version", "bios_date": "bios_date", "product_name": "product_name", "system_vendor": "sys_vendor"}
	for key, file := range files {
		raw, err := os.ReadFile(filepath.Join("/sys/class/dmi/id", file))
		want := strings.TrimSpace(string(raw))
		if err != nil || want == "" || want == "NA" {
			if v, ok := fw[key]; ok {
				t.Errorf("firmware %s is %v, but /sys/class/dmi/id/%s is unreadable", key, v, file)
			}
			continue
		}
		if fw[key] != want {
			t.Errorf("firmware %s is %v, /sys/class/dmi/id/%s says %q", key, fw[key], file, want)
		}
	}
}

func TestRealObservationIsDeterministic(t *testing.T) {
	t.Parallel()
	setup, pkgs, svcs := realFacts(t)
	doc := mergedDocument(t, "real-host", setup, pkgs, svcs)
	rules := shippedRules(t)
	var states [2][]byte
	for i := range states {
		f, err := ansible.Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		obs, err := f.Observation(rules)
		if err != nil {
			t.Fatal(err)
		}
		if err := obs.Validate(); err != nil {
			t.Fatalf("observation does not validate: %v", err)
		}
		if want := []string{"compliance", "firmware", "packages", "services"}; !slices.Equal(obs.Scope, want) {
			t.Errorf("scope %v, want %v", obs.Scope, want)
		}
		states[i] = obs.State
	}
	if !bytes.Equal(states[0], states[1]) {
		t.Error("two parses of the same facts gave different states")
	}
}

func TestRealComplianceRules(t *testing.T) {
	t.Parallel()
	setup, pkgs, svcs := realFacts(t)
	installed := installedPackages(t)
	f, err := ansible.Parse(mergedDocument(t, "real-host", setup, pkgs, svcs))
	if err != nil {
		t.Fatal(err)
	}
	rules := shippedRules(t)
	got := rules.Evaluate(f.State())
	if len(got) != rules.Len() {
		t.Fatalf("%d of %d rules evaluated over full facts: %v", len(got), rules.Len(), got)
	}
	checked := 0
	for _, r := range rules.List() {
		name, ok := strings.CutPrefix(r.Pointer, "/packages/")
		if !ok || (r.Op != ansible.OpAbsent && r.Op != ansible.OpPresent) {
			continue
		}
		_, isInstalled := installed[name]
		want := ansible.OutcomeFail
		if isInstalled == (r.Op == ansible.OpPresent) {
			want = ansible.OutcomePass
		}
		if got[r.ID] != want {
			t.Errorf("rule %s: %s, but dpkg says %s installed: %v", r.ID, got[r.ID], name, isInstalled)
		}
		checked++
	}
	if checked == 0 {
		t.Error("no package rule checked against dpkg")
	}
}
