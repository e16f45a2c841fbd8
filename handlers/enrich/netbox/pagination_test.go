package netbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
)

func TestDesiredReadsEveryPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		pageSize    int // the adapter's
		maxPageSize int // the fake's MAX_PAGE_SIZE
		ifaces      int
		wantPages   int
	}{
		{"pages_at_the_configured_size", 2, 0, 5, 3},
		{"follows_next_when_netbox_caps_the_limit", 100, 3, 7, 3},
		{"reads_one_page_when_everything_fits", 100, 0, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := netboxfake.Start(t, netboxfake.Options{MaxPageSize: tt.maxPageSize})
			dev := f.AddDevice(netboxfake.Device{Name: "switch-1"})
			vm := f.AddVM(netboxfake.VM{Name: "vm-1"})
			for i := range tt.ifaces {
				f.AddDeviceInterface(dev, netboxfake.Interface{Name: fmt.Sprintf("eth%d", i), Enabled: true, MTU: 1500 + i})
				f.AddVMInterface(vm, netboxfake.Interface{Name: fmt.Sprintf("ens%d", i), Enabled: i%2 == 0})
			}
			s := newSource(t, f, netbox.Config{PageSize: tt.pageSize})
			for _, q := range []struct {
				ci, ciType, path, prefix string
			}{
				{"switch-1", "node", "/api/dcim/interfaces/", "eth"},
				{"vm-1", "vm", "/api/virtualization/interfaces/", "ens"},
			} {
				d, found, err := s.Desired(context.Background(), enrich.Query{CIID: q.ci, CIType: q.ciType})
				if err != nil || !found {
					t.Fatalf("Desired(%s) = %v, %v", q.ci, found, err)
				}
				v, _ := member(t, d.Definition, "interfaces")
				ifaces, _ := v.(map[string]any)
				if len(ifaces) != tt.ifaces {
					t.Errorf("%s: %d interfaces in the document, want %d: %v", q.ci, len(ifaces), tt.ifaces, ifaces)
				}
				for i := range tt.ifaces {
					if _, ok := ifaces[fmt.Sprintf("%s%d", q.prefix, i)]; !ok {
						t.Errorf("%s: interface %s%d missing", q.ci, q.prefix, i)
					}
				}
				if n := f.RequestCount(q.path); n != tt.wantPages {
					t.Errorf("%s: %d requests to %s, want %d pages", q.ci, n, q.path, tt.wantPages)
				}
			}
		})
	}
}

func TestDesiredPagesThroughCustomFieldMatches(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
	// Loose filter logic returns every ci-1* for ci-1; the exact match is on the last page.
	for i := range 5 {
		f.AddDevice(netboxfake.Device{Name: fmt.Sprintf("host-%d", i), CustomFields: map[string]any{"driftwatch_ci": fmt.Sprintf("ci-1%d", i)}})
	}
	f.AddDevice(netboxfake.Device{Name: "host-x", CustomFields: map[string]any{"driftwatch_ci": "ci-1"}})
	s := newSource(t, f, netbox.Config{PageSize: 2})
	d, found, err := s.Desired(context.Background(), enrich.Query{CIID: "ci-1"})
	if err != nil || !found || d.Ref != "dcim.device 6" {
		t.Fatalf("Desired = %q, %v, %v; want dcim.device 6", d.Ref, found, err)
	}
}
