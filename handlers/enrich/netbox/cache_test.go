package netbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
)

const devices = "/api/dcim/devices/"

func mustFind(t *testing.T, s *netbox.Source, ci string) string {
	t.Helper()
	d, found, err := s.Desired(context.Background(), enrich.Query{CIID: ci})
	if err != nil || !found {
		t.Fatalf("Desired(%s) = %v, %v", ci, found, err)
	}
	return string(d.Definition)
}

func TestCacheServesWithinTTLAndRefetchesAfter(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	id := f.AddDevice(netboxfake.Device{Name: "web-1", Platform: "ubuntu"})
	clk := newClock()
	s := newSource(t, f, netbox.Config{CacheTTL: time.Minute}, netbox.WithClock(clk.Now))

	first := mustFind(t, s, "web-1")
	f.UpdateDevice(id, func(d *netboxfake.Device) { d.Platform = "debian" })
	clk.Advance(59 * time.Second)
	if got := mustFind(t, s, "web-1"); got != first || f.RequestCount(devices) != 1 {
		t.Errorf("within the TTL: %d device requests, document %s; want 1 and the cached one", f.RequestCount(devices), got)
	}
	clk.Advance(2 * time.Second)
	if got := mustFind(t, s, "web-1"); got == first || f.RequestCount(devices) != 2 {
		t.Errorf("after the TTL: %d device requests, document %s; want 2 and the new platform", f.RequestCount(devices), got)
	}
}

func TestCacheKeepsAbsenceToo(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	s := newSource(t, f, netbox.Config{})
	for range 3 {
		if _, found, err := s.Desired(context.Background(), enrich.Query{CIID: "ghost"}); found || err != nil {
			t.Fatalf("Desired = %v, %v", found, err)
		}
	}
	if n := f.RequestCount(devices); n != 1 {
		t.Errorf("%d device requests for an unknown CI asked three times, want 1", n)
	}
	f.AddDevice(netboxfake.Device{Name: "ghost"})
	s.Invalidate("ghost")
	mustFind(t, s, "ghost")
}

func TestInvalidateDropsWhatItNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		invalidate func(*netbox.Source)
		refetched  []string // of web-1, web-2, ci-7
	}{
		{"invalidate_drops_the_ci_named", func(s *netbox.Source) { s.Invalidate("web-1") }, []string{"web-1"}},
		{"invalidate_by_object_name_drops_a_ci_matched_by_custom_field", func(s *netbox.Source) { s.Invalidate("host-7") }, []string{"ci-7"}},
		{"invalidate_all_drops_everything", func(s *netbox.Source) { s.InvalidateAll() }, []string{"web-1", "web-2", "ci-7"}},
		{"invalidate_touched_with_all_drops_everything", func(s *netbox.Source) { s.InvalidateTouched(netbox.Touched{All: true}) }, []string{"web-1", "web-2", "ci-7"}},
		{"invalidate_touched_drops_its_names", func(s *netbox.Source) { s.InvalidateTouched(netbox.Touched{Names: []string{"web-2"}}) }, []string{"web-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := netboxfake.Start(t, netboxfake.Options{})
			f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
			f.AddDevice(netboxfake.Device{Name: "web-1"})
			f.AddDevice(netboxfake.Device{Name: "web-2"})
			f.AddDevice(netboxfake.Device{Name: "host-7", CustomFields: map[string]any{"driftwatch_ci": "ci-7"}})
			s := newSource(t, f, netbox.Config{})
			cis := []string{"web-1", "web-2", "ci-7"}
			for _, ci := range cis {
				mustFind(t, s, ci)
			}
			tt.invalidate(s)
			f.ResetRequests()
			for _, ci := range cis {
				mustFind(t, s, ci)
			}
			refetched := map[string]bool{}
			for _, r := range f.Requests() {
				if r.Path != devices {
					continue
				}
				if n := r.Query.Get("name"); n != "" {
					refetched[n] = true
				}
				if n := r.Query.Get("cf_driftwatch_ci"); n != "" {
					refetched[n] = true
				}
			}
			for _, ci := range cis {
				want := false
				for _, w := range tt.refetched {
					want = want || w == ci
				}
				if refetched[ci] != want {
					t.Errorf("%s refetched: %v, want %v", ci, refetched[ci], want)
				}
			}
		})
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddDevice(netboxfake.Device{Name: "web-1"})
	s := newSource(t, f, netbox.Config{})
	hold := make(chan struct{})
	f.Inject(netboxfake.Fault{Path: devices, Times: 1, Hold: hold})

	const callers = 16
	var started, done sync.WaitGroup
	started.Add(callers)
	done.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			defer done.Done()
			started.Done()
			_, found, err := s.Desired(context.Background(), enrich.Query{CIID: "web-1"})
			if err == nil && !found {
				err = context.Canceled
			}
			errs <- err
		}()
	}
	started.Wait()
	waitFor(t, func() bool { return f.RequestCount(devices) >= 1 })
	close(hold)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("caller: %v", err)
		}
	}
	if n := f.RequestCount(devices); n != 1 {
		t.Errorf("%d concurrent callers made %d device requests, want 1", callers, n)
	}
}

func TestInvalidateDuringAFetchKeepsItsAnswerOutOfTheCache(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	id := f.AddDevice(netboxfake.Device{Name: "web-1", Platform: "ubuntu"})
	s := newSource(t, f, netbox.Config{})
	hold := make(chan struct{})
	f.Inject(netboxfake.Fault{Path: devices, Times: 1, Hold: hold})
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Desired(context.Background(), enrich.Query{CIID: "web-1"})
		done <- err
	}()
	waitFor(t, func() bool { return f.RequestCount(devices) >= 1 })
	// The fetch held back started before this change, whose webhook invalidates: its
	// answer may predate the change and must not be cached.
	f.UpdateDevice(id, func(d *netboxfake.Device) { d.Platform = "debian" })
	s.Invalidate("web-1")
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fresh := mustFind(t, s, "web-1")
	if n := f.RequestCount(devices); n != 2 {
		t.Errorf("%d device requests, want 2: the fetch overtaken by Invalidate was cached", n)
	}
	if v, _ := member(t, []byte(fresh), "platform"); v != "debian" {
		t.Errorf("platform %v, want debian", v)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
