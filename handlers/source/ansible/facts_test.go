package ansible_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// shippedRules loads deploy/ansible/compliance.yaml.
func shippedRules(t *testing.T) ansible.Rules {
	t.Helper()
	path := filepath.Join("..", "..", "..", "deploy", "ansible", "compliance.yaml")
	rules, err := ansible.LoadRules(readFile(t, path), path)
	if err != nil {
		t.Fatalf("load shipped rules: %v", err)
	}
	return rules
}

func mustParse(t *testing.T, raw string) ansible.Facts {
	t.Helper()
	f, err := ansible.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	return f
}

func stateOf(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("decode state %s: %v", raw, err)
	}
	return st
}

func TestGoldenFactsDocument(t *testing.T) {
	t.Parallel()
	facts, err := ansible.Parse(readFile(t, "testdata", "debian12.facts.json"))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := facts.Observation(shippedRules(t))
	if err != nil {
		t.Fatal(err)
	}
	want := readFile(t, "testdata", "debian12.observed.json")
	if !testenv.JSONEqual(t, obs.State, want) {
		t.Errorf("state:\n got %s\nwant %s", obs.State, want)
	}
	if obs.CIID != "localhost" || obs.CIType != "node" || obs.Source != "ansible" {
		t.Errorf("ci_id %q, ci_type %q, source %q; want the document's host, node, ansible", obs.CIID, obs.CIType, obs.Source)
	}
	if want := time.Date(2026, 12, 1, 21, 48, 0, 0, time.UTC); !obs.ObservedAt.Equal(want) {
		t.Errorf("observed_at %s, want %s", obs.ObservedAt, want)
	}
	if want := []string{"compliance", "firmware", "packages", "services"}; !slices.Equal(obs.Scope, want) {
		t.Errorf("scope %v, want %v", obs.Scope, want)
	}
	if err := obs.Validate(); err != nil {
		t.Errorf("observation does not validate: %v", err)
	}
	if h, _ := drift.Hash(obs.State); h != obs.StateHash {
		t.Errorf("state_hash %s, want %s", obs.StateHash, h)
	}
	if obs.ID == "" {
		t.Error("an observation with a time has no id")
	}
	d := obs.Details["/compliance/site-openssh-server-installed"]
	if !strings.HasPrefix(d, "fail: ") || !strings.Contains(d, "/packages/openssh-server") {
		t.Errorf("details of a failed rule: %q", d)
	}
}

func TestGoldenSetupModuleResult(t *testing.T) {
	t.Parallel()
	facts, err := ansible.Parse(readFile(t, "testdata", "debian12.setup.json"))
	if err != nil {
		t.Fatal(err)
	}
	if facts.Host != "" || facts.Hostname != "vm" || facts.Nodename != "vm" || facts.FQDN != "localhost" {
		t.Errorf("names: %+v", facts)
	}
	obs, err := facts.Observation(shippedRules(t))
	if err != nil {
		t.Fatal(err)
	}
	if obs.CIID != "vm" {
		t.Errorf("ci_id %q, want the hostname vm", obs.CIID)
	}
	// The shipped rules look at packages and services, which a setup run does not gather.
	if want := []string{"firmware"}; !slices.Equal(obs.Scope, want) {
		t.Errorf("scope %v, want %v", obs.Scope, want)
	}
	if !testenv.JSONEqual(t, obs.State, []byte(`{"firmware": {}}`)) {
		t.Errorf("state %s", obs.State)
	}
}

func TestParseAcceptsEveryShape(t *testing.T) {
	t.Parallel()
	inner := `{"hostname": "web-1", "packages": {"bash": [{"name": "bash", "version": "5.2", "arch": "amd64", "source": "apt"}]}}`
	tests := []struct {
		name, doc, host string
	}{
		{"reads_an_ansible_facts_object_itself", inner, ""},
		{"reads_a_module_result", `{"ansible_facts": ` + inner + `, "changed": false, "warnings": []}`, ""},
		{"reads_a_facts_document", `{"host": "inv-1", "ansible_facts": ` + inner + `}`, "inv-1"},
		{"reads_prefixed_setup_facts", `{"ansible_facts": {"ansible_hostname": "web-1", "packages": {"bash": [{"version": "5.2"}]}}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := mustParse(t, tt.doc)
			if f.Host != tt.host || f.Hostname != "web-1" {
				t.Errorf("host %q hostname %q", f.Host, f.Hostname)
			}
			if got := f.Packages["bash"]; len(got) != 1 || got[0].Version != "5.2" || got[0].Name != "bash" {
				t.Errorf("packages %+v", f.Packages)
			}
		})
	}
}

func TestParseRejectsMalformedInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"rejects_invalid_json", `{"ansible_facts": `, []string{"document: invalid JSON"}},
		{"rejects_trailing_data", `{"hostname": "a"} {}`, []string{"document: invalid JSON"}},
		{"rejects_an_array", `[{"hostname": "a"}]`, []string{"document: must be a JSON object, not an array"}},
		{"rejects_null", `null`, []string{"document: must be a JSON object, not null"}},
		{"rejects_an_object_without_facts", `{"changed": false}`, []string{"ansible_facts: required"}},
		{"says_why_a_failed_module_has_no_facts", `{"failed": true, "msg": "no python"}`, []string{"ansible_facts: required", "failed: no python"}},
		{"rejects_facts_that_are_not_an_object", `{"ansible_facts": "x"}`, []string{"ansible_facts: must be a JSON object, not a string"}},
		{"rejects_a_document_without_facts", `{"host": "a"}`, []string{"ansible_facts: required"}},
		{"rejects_a_document_with_an_empty_host", `{"host": " ", "ansible_facts": {}}`, []string{"host: must be a non-empty string"}},
		{"rejects_a_document_with_a_numeric_host", `{"host": 1, "ansible_facts": {}}`, []string{"host: must be a string, not a number"}},
		{"rejects_unknown_members_of_a_document", `{"host": "a", "ansible_facts": {}, "extra": 1}`, []string{"extra: unknown member"}},
		{"rejects_packages_that_are_a_list", `{"ansible_facts": {"packages": []}}`, []string{"ansible_facts.packages: must be an object of package name to a list"}},
		{"rejects_a_package_that_is_not_a_list", `{"ansible_facts": {"packages": {"bash": {"version": "1"}}}}`, []string{`ansible_facts.packages["bash"]: must be a list`}},
		{"rejects_a_package_version_that_is_a_number", `{"ansible_facts": {"packages": {"bash": [{"version": 5}]}}}`, []string{`ansible_facts.packages["bash"][0].version: must be a string, not a number`}},
		{"rejects_a_package_without_version", `{"ansible_facts": {"packages": {"bash": [{"name": "bash"}]}}}`, []string{`ansible_facts.packages["bash"][0].version: required`}},
		{"rejects_an_epoch_that_is_an_object", `{"ansible_facts": {"packages": {"k": [{"version": "1", "epoch": {}}]}}}`, []string{`ansible_facts.packages["k"][0].epoch: must be a number`}},
		{"rejects_services_that_are_a_list", `{"ansible_facts": {"services": ["ssh"]}}`, []string{"ansible_facts.services: must be an object of service name to service"}},
		{"rejects_a_service_that_is_a_string", `{"ansible_facts": {"services": {"ssh": "running"}}}`, []string{`ansible_facts.services["ssh"]: must be a JSON object, not a string`}},
		{"rejects_a_service_state_that_is_a_boolean", `{"ansible_facts": {"services": {"ssh": {"state": true}}}}`, []string{`ansible_facts.services["ssh"].state: must be a string, not a boolean`}},
		{"rejects_a_hostname_that_is_a_list", `{"ansible_facts": {"ansible_hostname": ["a"]}}`, []string{"ansible_facts.ansible_hostname: must be a string, not an array"}},
		{"rejects_a_bad_iso8601_time", `{"hostname": "a", "date_time": {"iso8601": "yesterday"}}`, []string{"date_time.iso8601: \"yesterday\" is not an RFC 3339 time"}},
		{"names_every_bad_field_at_once", `{"ansible_facts": {"services": {"a": 1, "b": 2}, "packages": {"c": 3}}}`, []string{`services["a"]`, `services["b"]`, `packages["c"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ansible.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("parse %s: no error", tt.doc)
			}
			if !fault.IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestStateNormalisesFacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, facts, want string
	}{
		{
			name:  "shows_an_rpm_version_with_epoch_and_release",
			facts: `{"packages": {"bind": [{"name": "bind", "version": "9.16.23", "release": "14.el9", "epoch": 32, "arch": "x86_64", "source": "rpm"}]}}`,
			want:  `{"packages": {"bind": "32:9.16.23-14.el9"}}`,
		},
		{
			name:  "leaves_out_a_null_or_zero_epoch",
			facts: `{"packages": {"a": [{"version": "1.0", "release": "1", "epoch": null}], "b": [{"version": "2.0", "release": "3", "epoch": 0}]}}`,
			want:  `{"packages": {"a": "1.0-1", "b": "2.0-3"}}`,
		},
		{
			name:  "keeps_a_dpkg_epoch_inside_the_version",
			facts: `{"packages": {"openssh-client": [{"version": "1:9.2p1-2+deb12u6", "source": "apt"}]}}`,
			want:  `{"packages": {"openssh-client": "1:9.2p1-2+deb12u6"}}`,
		},
		{
			name: "sorts_and_joins_several_installed_versions",
			facts: `{"packages": {"kernel": [
				{"version": "5.14.0", "release": "70.el9", "epoch": null},
				{"version": "5.14.0", "release": "162.el9", "epoch": null},
				{"version": "5.14.0", "release": "70.el9", "epoch": null, "arch": "noarch"}]}}`,
			want: `{"packages": {"kernel": "5.14.0-162.el9, 5.14.0-70.el9"}}`,
		},
		{
			name: "strips_service_from_systemd_units_and_reads_enabled",
			facts: `{"services": {
				"ssh.service": {"name": "ssh.service", "state": "running", "status": "enabled", "source": "systemd"},
				"cron.service": {"name": "cron.service", "state": "stopped", "status": "disabled", "source": "systemd"},
				"systemd-journald.service": {"name": "systemd-journald.service", "state": "running", "status": "static", "source": "systemd"},
				"getty@tty1.service": {"name": "getty@tty1.service", "state": "running", "status": "active", "source": "systemd"}}}`,
			want: `{"services": {
				"ssh": {"state": "running", "enabled": true},
				"cron": {"state": "stopped", "enabled": false},
				"systemd-journald": {"state": "running", "enabled": false},
				"getty@tty1": {"state": "running", "enabled": false}}}`,
		},
		{
			name: "prefers_the_systemd_record_of_a_service",
			facts: `{"services": {
				"ssh": {"name": "ssh", "state": "stopped", "source": "sysv"},
				"ssh.service": {"name": "ssh.service", "state": "running", "status": "enabled", "source": "systemd"}}}`,
			want: `{"services": {"ssh": {"state": "running", "enabled": true}}}`,
		},
		{
			name:  "leaves_out_enabled_when_no_status_is_reported",
			facts: `{"services": {"dbus": {"name": "dbus", "state": "stopped", "source": "sysv"}, "x": {"name": "x", "source": "rcctl"}}}`,
			want:  `{"services": {"dbus": {"state": "stopped"}, "x": {}}}`,
		},
		{
			name:  "leaves_out_unreadable_firmware",
			facts: `{"ansible_bios_version": "2.17.0", "ansible_bios_date": "NA", "ansible_product_name": "PowerEdge R650", "ansible_system_vendor": ""}`,
			want:  `{"firmware": {"bios_version": "2.17.0", "product_name": "PowerEdge R650"}}`,
		},
		{
			name:  "carries_only_what_was_gathered",
			facts: `{"ansible_hostname": "a", "ansible_distribution": "Debian"}`,
			want:  `{}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(mustParse(t, tt.facts).State())
			if err != nil {
				t.Fatal(err)
			}
			if !testenv.JSONEqual(t, got, []byte(tt.want)) {
				t.Errorf("state:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestObservation(t *testing.T) {
	t.Parallel()
	rules, err := ansible.NewRules([]ansible.Rule{
		{ID: "no-telnet", Title: "t", Severity: drift.SeverityHigh, Pointer: "/packages/telnet", Op: ansible.OpAbsent},
		{ID: "bios", Title: "b", Severity: drift.SeverityLow, Pointer: "/firmware/bios_version", Op: ansible.OpEquals, Value: "2.17.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	firmwareOnly, err := ansible.NewRules(rules.List()[1:])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, facts string
		rules       ansible.Rules
		ci          string
		scope       []string
		compliance  map[string]any // nil: no compliance member
	}{
		{
			name:  "takes_the_ci_from_the_document_host_first",
			facts: `{"host": "inv", "ansible_facts": {"hostname": "h", "nodename": "n", "fqdn": "f", "packages": {}}}`,
			ci:    "inv", scope: []string{"packages"},
		},
		{
			name:  "falls_back_to_the_hostname",
			facts: `{"ansible_hostname": "h", "ansible_nodename": "n", "ansible_fqdn": "f", "packages": {}}`,
			ci:    "h", scope: []string{"packages"},
		},
		{
			name:  "falls_back_to_the_nodename_then_the_fqdn",
			facts: `{"ansible_nodename": "n", "ansible_fqdn": "f", "services": {}}`,
			ci:    "n", scope: []string{"services"},
		},
		{
			name:  "uses_the_fqdn_last",
			facts: `{"ansible_hostname": "", "ansible_fqdn": "f.example.org", "services": {}}`,
			ci:    "f.example.org", scope: []string{"services"},
		},
		{
			name:  "covers_compliance_when_every_rule_is_evaluated",
			facts: `{"host": "a", "ansible_facts": {"bios_version": "2.17.0", "packages": {"telnet": [{"version": "0.17-44"}]}}}`,
			rules: rules, ci: "a", scope: []string{"compliance", "firmware", "packages"},
			compliance: map[string]any{"no-telnet": "fail", "bios": "pass"},
		},
		{
			name:  "leaves_compliance_alone_when_a_rule_cannot_be_evaluated",
			facts: `{"host": "a", "ansible_facts": {"bios_version": "2.17.0"}}`,
			rules: rules, ci: "a", scope: []string{"firmware"},
		},
		{
			name:  "covers_compliance_of_a_setup_run_with_firmware_rules",
			facts: `{"host": "a", "ansible_facts": {"bios_version": "1.0.0"}}`,
			rules: firmwareOnly, ci: "a", scope: []string{"compliance", "firmware"},
			compliance: map[string]any{"bios": "fail"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs, err := mustParse(t, tt.facts).Observation(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if obs.CIID != tt.ci || !slices.Equal(obs.Scope, tt.scope) {
				t.Errorf("ci_id %q scope %v, want %q %v", obs.CIID, obs.Scope, tt.ci, tt.scope)
			}
			st := stateOf(t, obs.State)
			got, _ := st["compliance"].(map[string]any)
			if !reflect.DeepEqual(got, tt.compliance) {
				t.Errorf("compliance %v, want %v", st["compliance"], tt.compliance)
			}
			for k := range st {
				if !slices.Contains(obs.Scope, k) {
					t.Errorf("state member %s is not in the scope %v", k, obs.Scope)
				}
			}
			if obs.ID != "" {
				t.Errorf("an observation without a time has the id %q", obs.ID)
			}
		})
	}
}

func TestObservationRefusesFactsItCannotPlace(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, facts, want string }{
		{"refuses_facts_without_any_name", `{"packages": {}}`, "ci_id:"},
		{"refuses_facts_without_any_member", `{"ansible_hostname": "a", "ansible_kernel": "6.1"}`, "ansible_facts: carries none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mustParse(t, tt.facts).Observation(ansible.Rules{})
			if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a permanent one saying %q", err, tt.want)
			}
		})
	}
}

func TestObservationIsDeterministic(t *testing.T) {
	t.Parallel()
	raw := readFile(t, "testdata", "debian12.facts.json")
	rules := shippedRules(t)
	var first []byte
	var firstID string
	for range 5 {
		f, err := ansible.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		obs, err := f.Observation(rules)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first, firstID = obs.State, obs.ID
			continue
		}
		if string(obs.State) != string(first) || obs.ID != firstID {
			t.Fatalf("state or id changed between runs:\n%s %s\n%s %s", first, firstID, obs.State, obs.ID)
		}
	}
	// A changed state is another observation.
	changed := strings.Replace(string(raw), `"5.2.15-2+b8"`, `"5.2.15-2+b9"`, 1)
	f, err := ansible.Parse([]byte(changed))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := f.Observation(rules)
	if err != nil {
		t.Fatal(err)
	}
	if obs.ID == firstID {
		t.Error("a changed state kept the observation id")
	}
}
