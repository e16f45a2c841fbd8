package netbox_test

import (
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/desiredtest"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
)

// netboxFixture is the contract suite's fixture for NetBox: a device per CI in the fake, its
// desired state in the driftwatch_desired custom field, the cache invalidated as a webhook
// would.
type netboxFixture struct {
	fake    *netboxfake.Server
	source  *netbox.Source
	devices map[string]int
}

func (f *netboxFixture) Source() enrich.DesiredSource { return f.source }

// Exact is false: NetBox adds the device's status, site and role to what the field says.
func (f *netboxFixture) Exact() bool { return false }

func (f *netboxFixture) Set(_ *testing.T, ci, _ string, def map[string]any) {
	if id, ok := f.devices[ci]; ok {
		f.fake.UpdateDevice(id, func(d *netboxfake.Device) { d.CustomFields = map[string]any{"driftwatch_desired": def} })
	} else {
		f.devices[ci] = f.fake.AddDevice(netboxfake.Device{Name: ci, CustomFields: map[string]any{"driftwatch_desired": def}})
	}
	f.source.Invalidate(ci)
}

func (f *netboxFixture) Remove(_ *testing.T, ci, _ string) {
	f.fake.DeleteDevice(f.devices[ci])
	delete(f.devices, ci)
	f.source.Invalidate(ci)
}

func TestNetBoxPassesTheDesiredStateContract(t *testing.T) {
	t.Parallel()
	desiredtest.Run(t, func(t *testing.T) desiredtest.Fixture {
		fake := netboxfake.Start(t, netboxfake.Options{})
		fake.AddCustomField(netboxfake.CustomField{Name: "driftwatch_desired", Type: "json"})
		return &netboxFixture{fake: fake, source: newSource(t, fake, netbox.Config{}), devices: map[string]int{}}
	})
}
