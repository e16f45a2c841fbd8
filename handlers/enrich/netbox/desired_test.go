package netbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// baseline fills f with the custom fields and config contexts of a typical site.
func baseline(f *netboxfake.Server) {
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
	f.AddCustomField(netboxfake.CustomField{Name: "owner"})
	f.AddCustomField(netboxfake.CustomField{Name: "rack_unit", Type: "integer"})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_firmware", Type: "json"})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_desired", Type: "json"})
	f.AddConfigContext(netboxfake.ConfigContext{Name: "linux-baseline", Weight: 100, Data: map[string]any{
		"ntp_servers": []any{"192.0.2.123"},
		"driftwatch": map[string]any{
			"packages": map[string]any{"openssh-server": "1:9.6p1-3ubuntu13", "curl": "*"},
			"services": map[string]any{"sshd": map[string]any{"state": "running", "enabled": true}, "*": "*"},
			"firmware": map[string]any{"bios_version": "2.17.0"},
			"files": map[string]any{"/etc/ssh/sshd_config": map[string]any{
				"sha256": "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
			}},
		},
	}})
	f.AddConfigContext(netboxfake.ConfigContext{Name: "dc1-compliance", Weight: 200, Sites: []string{"dc1"}, Data: map[string]any{
		"driftwatch": map[string]any{"compliance": map[string]any{"*": "pass"}},
	}})
	f.AddConfigContext(netboxfake.ConfigContext{Name: "dc2-legacy", Sites: []string{"dc2"}, Data: map[string]any{
		"driftwatch": map[string]any{"packages": map[string]any{"telnetd": "*"}},
	}})
}

func TestDesiredMapsObjectsPerSchema(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	baseline(f)
	dev := f.AddDevice(netboxfake.Device{
		Name: "web-01", Status: "active", Site: "dc1", Role: "web", Platform: "ubuntu-24-04",
		PrimaryIP:    "192.0.2.10/24",
		LocalContext: map[string]any{"driftwatch": map[string]any{"services": map[string]any{"nginx": map[string]any{"state": "running", "enabled": true}}}},
		CustomFields: map[string]any{
			"driftwatch_ci":       "sim-web-01",
			"owner":               "team-web",
			"driftwatch_firmware": map[string]any{"bios_version": "2.19.1"},
			"driftwatch_desired":  map[string]any{"services": map[string]any{"telnet": map[string]any{"state": "stopped", "enabled": false}}},
		},
	})
	f.AddDeviceInterface(dev, netboxfake.Interface{Name: "eth0", Enabled: true, MAC: "00:50:56:ab:cd:ef", MTU: 9000})
	f.AddDeviceInterface(dev, netboxfake.Interface{Name: "eth1", Enabled: false})
	vm := f.AddVM(netboxfake.VM{
		Name: "db-01", Status: "offline", Site: "dc2", Role: "db", Platform: "debian-12",
		PrimaryIP: "2001:db8::21/64", VCPUs: 1.5, MemoryMB: 2048, DiskMB: 20500,
	})
	f.AddVMInterface(vm, netboxfake.Interface{Name: "ens3", Enabled: true, MAC: "52:54:00:12:34:56", MTU: 1500})
	s := newSource(t, f, netbox.Config{})

	tests := []struct {
		name, golden string
		q            enrich.Query
		ref          string
	}{
		{"maps_a_device_with_config_context_and_custom_fields", "device.desired.json", enrich.Query{CIID: "web-01", CIType: "node"}, "dcim.device 1"},
		{"maps_a_virtual_machine_with_units_converted", "vm.desired.json", enrich.Query{CIID: "db-01", CIType: "vm"}, "virtualization.virtualmachine 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, found, err := s.Desired(context.Background(), tt.q)
			if err != nil || !found {
				t.Fatalf("Desired = found %v, %v", found, err)
			}
			if d.Source != "netbox" || d.Ref != tt.ref {
				t.Errorf("source %q ref %q, want netbox %q", d.Source, d.Ref, tt.ref)
			}
			if c, _ := drift.Canonical(d.Definition); !bytes.Equal(c, d.Definition) {
				t.Errorf("definition is not canonical: %s", d.Definition)
			}
			if d.BaselineHash != drift.HashCanonical(d.Definition) {
				t.Errorf("baseline hash %s, want %s", d.BaselineHash, drift.HashCanonical(d.Definition))
			}
			golden(t, tt.golden, d.Definition)
		})
	}

	t.Run("custom_fields_override_config_context_and_desired_merges_last", func(t *testing.T) {
		d, _, err := s.Desired(context.Background(), enrich.Query{CIID: "web-01"})
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Firmware     map[string]string         `json:"firmware"`
			Services     map[string]any            `json:"services"`
			Packages     map[string]string         `json:"packages"`
			CustomFields map[string]any            `json:"custom_fields"`
			Compliance   map[string]string         `json:"compliance"`
			Files        map[string]map[string]any `json:"files"`
		}
		if err := json.Unmarshal(d.Definition, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Firmware["bios_version"] != "2.19.1" {
			t.Errorf("firmware %v: driftwatch_firmware must override the config context", doc.Firmware)
		}
		for _, svc := range []string{"sshd", "nginx", "telnet", "*"} {
			if _, ok := doc.Services[svc]; !ok {
				t.Errorf("services lacks %q (config context, local context and driftwatch_desired merge): %v", svc, doc.Services)
			}
		}
		if _, ok := doc.Packages["telnetd"]; ok {
			t.Errorf("packages %v hold the dc2 context, which does not apply to a dc1 device", doc.Packages)
		}
		if doc.CustomFields["owner"] != "team-web" || len(doc.CustomFields) != 1 {
			t.Errorf("custom_fields %v, want only owner (null and driftwatch_ fields stay out)", doc.CustomFields)
		}
		if _, ok := member(t, d.Definition, "ntp_servers"); ok {
			t.Errorf("config context outside its driftwatch key leaked into the document")
		}
		if _, ok := member(t, d.Definition, "ci"); ok {
			t.Errorf("driftwatch_ci is identity, not desired state")
		}
	})
}

func TestDesiredMapsStatusToPowerState(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	s := newSource(t, f, netbox.Config{})
	tests := []struct {
		name, status, want string
		vm                 bool
	}{
		{"active_is_running", "active", "running", false},
		{"offline_is_stopped", "offline", "stopped", false},
		{"active_vm_is_running", "active", "running", true},
		{"offline_vm_is_stopped", "offline", "stopped", true},
		{"planned_is_not_asserted", "planned", "", false},
		{"staged_is_not_asserted", "staged", "", false},
		{"failed_is_not_asserted", "failed", "", false},
		{"inventory_is_not_asserted", "inventory", "", false},
		{"decommissioning_is_not_asserted", "decommissioning", "", false},
		{"paused_vm_is_not_asserted", "paused", "", true},
	}
	for _, tt := range tests {
		name := "ci-" + tt.name
		if tt.vm {
			f.AddVM(netboxfake.VM{Name: name, Status: tt.status})
		} else {
			f.AddDevice(netboxfake.Device{Name: name, Status: tt.status})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := enrich.Query{CIID: "ci-" + tt.name}
			if tt.vm {
				q.CIType = "vm"
			}
			d, found, err := s.Desired(context.Background(), q)
			if err != nil || !found {
				t.Fatalf("Desired = found %v, %v", found, err)
			}
			got, ok := member(t, d.Definition, "power_state")
			if tt.want == "" && ok {
				t.Errorf("power_state %v, want it left out", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("power_state %v, want %q", got, tt.want)
			}
		})
	}
}

func TestDesiredFindsTheObjectOfACI(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
	f.AddDevice(netboxfake.Device{Name: "twin"})
	f.AddVM(netboxfake.VM{Name: "twin"})
	f.AddDevice(netboxfake.Device{Name: "host-17", CustomFields: map[string]any{"driftwatch_ci": "ci-9"}})
	// Loose filter logic matches ci-90 for ci-9; the adapter must not.
	f.AddDevice(netboxfake.Device{Name: "host-18", CustomFields: map[string]any{"driftwatch_ci": "ci-90"}})
	f.AddVM(netboxfake.VM{Name: "vm-5", CustomFields: map[string]any{"driftwatch_ci": "ci-vm"}})
	f.AddDevice(netboxfake.Device{Name: "a", CustomFields: map[string]any{"driftwatch_ci": "ci-dup"}})
	f.AddDevice(netboxfake.Device{Name: "b", CustomFields: map[string]any{"driftwatch_ci": "ci-dup"}})
	s := newSource(t, f, netbox.Config{})

	tests := []struct {
		name    string
		q       enrich.Query
		found   bool
		ref     string
		permErr bool
	}{
		{"looks_at_virtual_machines_first_for_vms", enrich.Query{CIID: "twin", CIType: "vm"}, true, "virtualization.virtualmachine 1", false},
		{"looks_at_devices_first_for_other_types", enrich.Query{CIID: "twin", CIType: "node"}, true, "dcim.device 1", false},
		{"matches_driftwatch_ci_exactly", enrich.Query{CIID: "ci-9"}, true, "dcim.device 2", false},
		{"matches_driftwatch_ci_on_the_other_kind", enrich.Query{CIID: "ci-vm"}, true, "virtualization.virtualmachine 2", false},
		{"finds_nothing_for_an_unknown_ci", enrich.Query{CIID: "ghost", CIType: "vm"}, false, "", false},
		{"refuses_a_ci_two_objects_claim", enrich.Query{CIID: "ci-dup"}, false, "", true},
		{"refuses_an_empty_ci_id", enrich.Query{CIID: " "}, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, found, err := s.Desired(context.Background(), tt.q)
			if tt.permErr {
				if err == nil || !fault.IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.found || d.Ref != tt.ref {
				t.Errorf("found %v ref %q, want %v %q", found, d.Ref, tt.found, tt.ref)
			}
		})
	}
}

func TestDesiredSkipsTheCustomFieldLookupWithoutTheField(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddVM(netboxfake.VM{Name: "vm-1"})
	s := newSource(t, f, netbox.Config{})
	if _, found, err := s.Desired(context.Background(), enrich.Query{CIID: "nothing-here"}); err != nil || found {
		t.Fatalf("Desired = %v, %v; want not found", found, err)
	}
	// One name lookup per kind; no cf_driftwatch_ci lookups, which NetBox would answer
	// with every object when the field does not exist.
	for _, path := range []string{"/api/dcim/devices/", "/api/virtualization/virtual-machines/"} {
		if n := f.RequestCount(path); n != 1 {
			t.Errorf("%d requests to %s, want 1", n, path)
		}
	}
	for _, r := range f.Requests() {
		if r.Query.Has("cf_driftwatch_ci") {
			t.Errorf("request %s?%s filters on a custom field that does not exist", r.Path, r.Query.Encode())
		}
	}
}

func TestDesiredRefusesDesiredStateThatIsNotAnObject(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_desired", Type: "json"})
	f.AddDevice(netboxfake.Device{Name: "bad-context", LocalContext: map[string]any{"driftwatch": "all of it"}})
	f.AddDevice(netboxfake.Device{Name: "bad-field", CustomFields: map[string]any{"driftwatch_desired": []any{"a"}}})
	s := newSource(t, f, netbox.Config{})
	tests := []struct{ name, ci, want string }{
		{"a_config_context_key_that_is_a_string", "bad-context", "config_context.driftwatch: must be a JSON object, got a string"},
		{"a_desired_field_that_is_an_array", "bad-field", "custom_fields.driftwatch_desired: must be a JSON object, got an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := s.Desired(context.Background(), enrich.Query{CIID: tt.ci})
			if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "dcim.device") {
				t.Fatalf("err = %v, want a permanent error naming dcim.device and %q", err, tt.want)
			}
		})
	}
}
