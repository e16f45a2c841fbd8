package netbox_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

const objectChanges = "/api/core/object-changes/"

func TestChangesFollowsTheCursor(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
	web := f.AddDevice(netboxfake.Device{Name: "web-1"})
	db := f.AddDevice(netboxfake.Device{Name: "db-1", CustomFields: map[string]any{"driftwatch_ci": "ci-db"}})
	eth0 := f.AddDeviceInterface(db, netboxfake.Interface{Name: "eth0", Enabled: true})
	vm := f.AddVM(netboxfake.VM{Name: "vm-1"})
	s := newSource(t, f, netbox.Config{PageSize: 2})

	all, cursor, err := s.Changes(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !all.All || cursor != f.LastChangeID() {
		t.Fatalf("from 0: touched %+v cursor %d; want all (a custom field was created) and %d", all, cursor, f.LastChangeID())
	}

	f.UpdateDevice(web, func(d *netboxfake.Device) { d.Name = "web-01" })
	f.UpdateDeviceInterface(eth0, func(_ *int, i *netboxfake.Interface) { i.Enabled = false })
	f.AddVMInterface(vm, netboxfake.Interface{Name: "ens3"})
	f.ResetRequests()

	got, next, err := s.Changes(context.Background(), cursor)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ci-db", "db-1", "vm-1", "web-01", "web-1"}
	if got.All || !slices.Equal(got.Names, want) {
		t.Errorf("after %d: touched %+v, want %v (only the later changes)", cursor, got, want)
	}
	if next != f.LastChangeID() || next <= cursor {
		t.Errorf("cursor %d, want %d", next, f.LastChangeID())
	}
	// Three changes at two a page: two pages.
	if n := f.RequestCount(objectChanges); n != 2 {
		t.Errorf("%d change log requests, want 2 pages", n)
	}
	for _, r := range f.Requests() {
		if r.Path == objectChanges && (r.Query.Get("id__gt") != fmt.Sprint(cursor) || r.Query.Get("ordering") != "id") {
			t.Errorf("change log request %s?%s, want id__gt=%d and ordering=id", r.Path, r.Query.Encode(), cursor)
		}
	}

	again, same, err := s.Changes(context.Background(), next)
	if err != nil || same != next || again.All || len(again.Names) != 0 {
		t.Errorf("with nothing new: %+v, cursor %d, %v; want nothing and cursor %d", again, same, err, next)
	}
}

func TestChangesReadsEveryPage(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("node-%d", i)
		f.AddDevice(netboxfake.Device{Name: name})
		want = append(want, name)
	}
	s := newSource(t, f, netbox.Config{PageSize: 3})
	got, next, err := s.Changes(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Names, want) || next != 7 {
		t.Errorf("touched %v cursor %d, want %v and 7", got.Names, next, want)
	}
	if n := f.RequestCount(objectChanges); n != 3 {
		t.Errorf("%d change log requests, want 3 pages", n)
	}
}

func TestChangesNamesTheParentsOfDeletedInterfaces(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	keep := f.AddDevice(netboxfake.Device{Name: "keep"})
	gone := f.AddDevice(netboxfake.Device{Name: "gone"})
	i1 := f.AddDeviceInterface(keep, netboxfake.Interface{Name: "eth0"})
	f.AddDeviceInterface(gone, netboxfake.Interface{Name: "eth0"})
	cursor := f.LastChangeID()
	// A deleted interface's record names its device by id only.
	f.DeleteDeviceInterface(i1)
	// Deleting a device deletes its interfaces first; the device is gone when Changes asks.
	f.DeleteDevice(gone)
	s := newSource(t, f, netbox.Config{})
	got, _, err := s.Changes(context.Background(), cursor)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gone", "keep"}; got.All || !slices.Equal(got.Names, want) {
		t.Errorf("touched %+v, want %v", got, want)
	}
}

func TestChangesTouchesAllForAConfigContext(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddDevice(netboxfake.Device{Name: "web-1"})
	cursor := f.LastChangeID()
	f.AddConfigContext(netboxfake.ConfigContext{Name: "base"})
	s := newSource(t, f, netbox.Config{})
	got, next, err := s.Changes(context.Background(), cursor)
	if err != nil || !got.All || next != f.LastChangeID() {
		t.Errorf("touched %+v cursor %d err %v, want all and %d", got, next, err, f.LastChangeID())
	}
}

func TestChangesKeepsTheCursorOnFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     netboxfake.Fault
		after     int64
		permanent bool
	}{
		{"a_5xx_on_a_later_page_is_retryable", netboxfake.Fault{Path: objectChanges, Status: http.StatusBadGateway}, 1, false},
		{"a_malformed_page_is_permanent", netboxfake.Fault{Path: objectChanges, Malformed: true}, 1, true},
		{"a_cursor_go_netbox_cannot_send_is_permanent", netboxfake.Fault{}, math.MaxInt32 + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := netboxfake.Start(t, netboxfake.Options{})
			for i := range 5 {
				f.AddDevice(netboxfake.Device{Name: fmt.Sprintf("node-%d", i)})
			}
			s := newSource(t, f, netbox.Config{PageSize: 2})
			if tt.fault.Path != "" {
				// Let the first page through, fail the second.
				f.Inject(netboxfake.Fault{Path: objectChanges, Times: 1})
				f.Inject(tt.fault)
			}
			_, next, err := s.Changes(context.Background(), tt.after)
			if err == nil {
				t.Fatal("Changes succeeded")
			}
			if fault.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent %v, want %v: %v", fault.IsPermanent(err), tt.permanent, err)
			}
			if next != tt.after {
				t.Errorf("cursor moved to %d on failure, want %d", next, tt.after)
			}
		})
	}
}
