package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// injectionRig is a server that remediates with the echo-drift playbook, which writes what
// it was given to a file of out, and opens its change requests in a ServiceNow fake.
type injectionRig struct {
	*server
	sn  *servicenowfake.Server
	out string
	// mark is the prefix of every file an injected command would create.
	mark string
}

// newInjectionRig starts serve with the echo-drift playbook for the inventory host ci, and
// env and flags added.
func newInjectionRig(t *testing.T, ci string, env []string, flags ...string) *injectionRig {
	t.Helper()
	if _, err := exec.LookPath("ansible-runner"); err != nil {
		testenv.Missing(t, "ansible-runner is not in PATH (apt-get install python3-ansible-runner ansible-core)")
	}
	creds := servicenowfake.Config{Username: "driftwatch", Password: "s3cret"}
	r := &injectionRig{sn: servicenowfake.Start(t, creds), out: t.TempDir(), mark: filepath.Join(t.TempDir(), "pwned")}
	playbooks, err := filepath.Abs(filepath.Join("testdata", "playbooks"))
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(t.TempDir(), "hosts.ini")
	hosts := "[targets]\n" + ci + " out_dir=" + r.out + "\n[targets:vars]\nansible_connection=local\nansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n"
	if err := os.WriteFile(inv, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(env, "DRIFTWATCH_SERVICENOW_USER="+creds.Username, "DRIFTWATCH_SERVICENOW_PASSWORD="+creds.Password)
	flags = append(flags, "--playbook-dir", playbooks, "--playbook-inventory", inv, "--servicenow-url", r.sn.URL(),
		"--remediation-attempts", "1")
	r.server = startServerEnv(t, t.TempDir(), env, flags...)
	return r
}

// echoed is what the echo-drift playbook was given for one run.
type echoed struct {
	DriftID string          `json:"drift_id"`
	CIID    string          `json:"ci_id"`
	Field   string          `json:"field"`
	Desired json.RawMessage `json:"desired"`
	Actual  json.RawMessage `json:"actual"`
}

// runs reads what the playbook runs were given, by drift id.
func (r *injectionRig) runs() map[string]echoed {
	r.t.Helper()
	files, _ := filepath.Glob(filepath.Join(r.out, "*.json"))
	out := map[string]echoed{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			r.t.Fatal(err)
		}
		var e echoed
		if err := json.Unmarshal(raw, &e); err != nil {
			continue // being written
		}
		out[e.DriftID] = e
	}
	return out
}

// check waits until every one of want drifts of ci has had its playbook run and its change
// request opened, then checks that each reached the playbook and the ticket as the literal
// data it is, that every payload came through, and that no injected command ran.
func (r *injectionRig) check(ci string, want int, payloads []string) {
	t := r.t
	t.Helper()
	var drifts []driftView
	proctest.WaitUntil(t, 3*time.Minute, "every drift ran its playbook and opened its change request", func() bool {
		drifts = r.drifts("?ci=" + ci + "&limit=100").Items
		if len(drifts) != want || len(r.sn.Records("change_request")) < want {
			return false
		}
		runs := r.runs()
		for _, d := range drifts {
			if _, ok := runs[d.DriftID]; !ok {
				return false
			}
		}
		return true
	})
	runs := r.runs()
	tickets := map[string]map[string]string{}
	for _, cr := range r.sn.Records("change_request") {
		tickets[cr["correlation_id"]] = cr
	}
	var seen strings.Builder
	for _, d := range drifts {
		run := runs[d.DriftID]
		if run.CIID != ci || run.Field != d.Field || !testenv.JSONEqual(t, run.Desired, d.Desired) || !testenv.JSONEqual(t, run.Actual, d.Actual) {
			t.Errorf("drift %s (%s: %s → %s) reached the playbook as %+v", d.DriftID, d.Field, d.Actual, d.Desired, run)
		}
		desc := tickets[d.DriftID]["description"]
		for _, line := range []string{"Field: " + d.Field, "Desired: " + string(d.Desired), "Actual: " + string(d.Actual)} {
			if !strings.Contains(desc, line) {
				t.Errorf("drift %s: the change request's description lacks %q:\n%s", d.DriftID, line, desc)
			}
		}
		seen.WriteString(unpointer(d.Field) + "\n" + decoded(d.Desired) + "\n" + decoded(d.Actual) + "\n")
	}
	for _, p := range payloads {
		if !strings.Contains(seen.String(), p) {
			t.Errorf("payload %q reached no drift literally", p)
		}
	}
	// The playbook runs are over; a command they ran would have left its mark by now.
	if matches, _ := filepath.Glob(r.mark + "*"); len(matches) > 0 {
		t.Fatalf("injected commands ran: %v", matches)
	}
}

// unpointer undoes a JSON Pointer's escapes.
func unpointer(p string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
}

// decoded is a JSON string's text, or the JSON itself for any other value.
func decoded(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// TestInjectionThroughNetBoxFieldsNeverRuns: a device's desired state in NetBox whose values
// and keys are shell, command substitution, Jinja and ansible_* payloads opens drifts whose
// remediation playbook receives them as data, and whose change requests quote them; nothing
// runs.
func TestInjectionThroughNetBoxFieldsNeverRuns(t *testing.T) {
	t.Parallel()
	nb := netboxfake.Start(t, netboxfake.Options{})
	nb.AddCustomField(netboxfake.CustomField{Name: "driftwatch_desired", Type: "json"})
	r := newInjectionRig(t, "nb-inject", []string{"DRIFTWATCH_NETBOX_TOKEN=" + nb.Token()}, "--netbox-url", nb.URL())
	m := r.mark
	payloads := []string{
		"; touch " + m + "-1",
		"$(touch " + m + "-2)",
		"{{ lookup('pipe', 'touch " + m + "-3') }}",
		"`touch " + m + "-4`",
		"{% for x in [1] %}{{ lookup('pipe', 'touch " + m + "-5') }}{% endfor %}",
		"/bin/touch " + m + "-6",
	}
	nb.AddDevice(netboxfake.Device{Name: "nb-inject", Status: "active", CustomFields: map[string]any{
		"driftwatch_desired": map[string]any{
			"files": map[string]any{
				"motd": payloads[0], "issue": payloads[1], "hosts": payloads[2],
				payloads[3]: "key", payloads[4]: "key",
			},
			"ansible_shell_executable": payloads[5],
			"ansible_connection":       "ssh",
		},
	}})
	r.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": "nb-inject", "ci_type": "server",
		"monitored_fields": []string{"/files/*", "/ansible_shell_executable", "/ansible_connection"},
		"severity":         "high", "category": "configuration", "action_type": "auto_correct", "script": "echo-drift",
		"auto_remediate": true, "auto_change_request": true,
	})
	r.observe(map[string]any{"id": "nb-inject-1", "ci_id": "nb-inject", "ci_type": "server", "state": map[string]any{
		"power_state": "running", "site": "dc1", "role": "server",
		"files":                    map[string]any{"motd": "ok", "issue": "ok", "hosts": "ok", payloads[3]: "observed", payloads[4]: "observed"},
		"ansible_shell_executable": "/bin/sh", "ansible_connection": "local",
	}})
	r.check("nb-inject", 7, payloads)
}

// TestInjectionThroughAnsibleFactsNeverRuns: facts whose package and service names and
// versions are payloads, judged against a template that names the same packages, open drifts
// whose remediation playbook receives them as data; nothing runs.
func TestInjectionThroughAnsibleFactsNeverRuns(t *testing.T) {
	t.Parallel()
	r := newInjectionRig(t, "facts-inject", nil)
	m := r.mark
	payloads := []string{
		"; touch " + m + "-1",
		"$(touch " + m + "-2)",
		"{{ lookup('pipe', 'touch " + m + "-3') }}",
		"`touch " + m + "-4`",
		"{{ lookup('pipe', 'touch " + m + "-5') }}",
	}
	r.put(http.MethodPut, "/templates/nodes", map[string]any{"template_id": "nodes", "resource_type": "node",
		"template_definition": map[string]any{
			"packages": map[string]any{"openssl": "3.0.0", payloads[1]: "1.0", payloads[2]: "1.0"},
			"services": map[string]any{payloads[4]: map[string]any{"state": "running"}},
		}})
	r.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": "facts-inject", "ci_type": "node", "monitored_fields": []string{"/packages/*", "/services/*"},
		"severity": "high", "category": "package", "action_type": "auto_correct", "script": "echo-drift",
		"auto_remediate": true, "auto_change_request": true,
	})
	pkg := func(version string) []map[string]any {
		return []map[string]any{{"version": version, "source": "apt"}}
	}
	facts := map[string]any{"host": "facts-inject", "ansible_facts": map[string]any{
		"packages": map[string]any{"openssl": pkg(payloads[0]), payloads[1]: pkg(payloads[3]), payloads[2]: pkg("2.0")},
		"services": map[string]any{payloads[4] + ".service": map[string]any{
			"name": payloads[4] + ".service", "state": "stopped", "status": "enabled", "source": "systemd"}},
	}}
	if code := r.do(http.MethodPost, "/facts", facts, nil); code != http.StatusAccepted {
		t.Fatalf("POST /facts: %d", code)
	}
	r.check("facts-inject", 4, payloads)
}
