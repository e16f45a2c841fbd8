package netboxfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	nb "github.com/netbox-community/go-netbox/v4"

	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
)

// recorder is a testing.TB that keeps the errors the fake reports instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

func get(t *testing.T, f *netboxfake.Server, path, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", path, body, err)
	}
	return resp.StatusCode, resp.Header, m
}

func TestSpecKeepsTheServedPaths(t *testing.T) {
	t.Parallel()
	spec, err := netboxfake.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range netboxfake.ServedPaths {
		item := spec.Doc.Paths.Find(p)
		if item == nil || item.Get == nil || item.Get.Responses.Status(200) == nil {
			t.Errorf("%s: no GET with a 200 answer in the loaded document", p)
		}
	}
	if err := spec.ValidateSchema("BriefSite", []byte(`{"id": 1, "url": "http://x/api/dcim/sites/1/", "display": "DC1", "name": "DC1", "slug": "dc1"}`)); err != nil {
		t.Errorf("a good site: %v", err)
	}
	if err := spec.ValidateSchema("BriefSite", []byte(`{"id": "1", "url": "http://x/", "display": "DC1", "name": "DC1"}`)); err == nil {
		t.Error("a site with a string id and no slug passed")
	}
}

func TestServerAnswersMatchTheDocument(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
	f.AddCustomField(netboxfake.CustomField{Name: "settings", Type: "json", FilterLogic: "disabled"})
	f.AddConfigContext(netboxfake.ConfigContext{Name: "base", Data: map[string]any{"driftwatch": map[string]any{"packages": map[string]any{"curl": "*"}}}})
	d := f.AddDevice(netboxfake.Device{Name: "web-1", Platform: "ubuntu", PrimaryIP: "2001:db8::1/64", CustomFields: map[string]any{"driftwatch_ci": "ci-1", "settings": map[string]any{"a": 1}}})
	f.AddDevice(netboxfake.Device{Status: "planned"}) // unnamed
	f.AddDeviceInterface(d, netboxfake.Interface{Name: "eth0", Enabled: true, MAC: "aa:bb:cc:dd:ee:ff", MTU: 1500, Type: "25gbase-x-sfp28"})
	v := f.AddVM(netboxfake.VM{Name: "vm-1", Status: "paused", VCPUs: 0.5, MemoryMB: 512, DiskMB: 1000, Site: "dc2", Role: "db"})
	f.AddVMInterface(v, netboxfake.Interface{Name: "ens3"})
	f.DeleteDevice(d)

	// The real client decodes every answer; the fake fails the test on any answer that
	// does not match the document.
	c := nb.NewAPIClientFor(f.URL(), f.Token())
	ctx := context.Background()
	if _, _, err := c.DcimAPI.DcimDevicesList(ctx).Execute(); err != nil {
		t.Errorf("devices: %v", err)
	}
	if _, _, err := c.VirtualizationAPI.VirtualizationVirtualMachinesList(ctx).Execute(); err != nil {
		t.Errorf("virtual machines: %v", err)
	}
	if _, _, err := c.VirtualizationAPI.VirtualizationInterfacesList(ctx).VirtualMachineId([]int32{int32(v)}).Execute(); err != nil {
		t.Errorf("vm interfaces: %v", err)
	}
	if _, _, err := c.ExtrasAPI.ExtrasCustomFieldsList(ctx).Execute(); err != nil {
		t.Errorf("custom fields: %v", err)
	}
	page, _, err := c.CoreAPI.CoreObjectChangesList(ctx).Ordering("id").Execute()
	if err != nil {
		t.Fatalf("object changes: %v", err)
	}
	if _, _, err := c.StatusAPI.StatusRetrieve(ctx).Execute(); err != nil {
		t.Errorf("status: %v", err)
	}
	var seen []string
	for _, oc := range page.Results {
		seen = append(seen, oc.ChangedObjectType+" "+string(oc.Action.GetValue()))
	}
	// Deleting the device deleted its interface first, as NetBox cascades.
	want := []string{
		"extras.customfield create", "extras.customfield create", "extras.configcontext create",
		"dcim.device create", "dcim.device create", "dcim.interface create",
		"virtualization.virtualmachine create", "virtualization.vminterface create",
		"dcim.interface delete", "dcim.device delete",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("change log %v, want %v", seen, want)
	}
	last := page.Results[len(page.Results)-1]
	if last.ChangedObject != nil || last.PostchangeData != nil || last.PrechangeData.(map[string]any)["name"] != "web-1" {
		t.Errorf("a deletion record: changed_object %v, postchange %v, prechange %v", last.ChangedObject, last.PostchangeData, last.PrechangeData)
	}
	if pre := page.Results[len(page.Results)-2].PrechangeData.(map[string]any); pre["device"] != float64(d) {
		t.Errorf("an interface snapshot names its device %v, want the id %d", pre["device"], d)
	}
}

func TestServerFailsTheTestOnAnAnswerOutsideTheDocument(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	f := netboxfake.Start(rec, netboxfake.Options{})
	// NetBox caps vcpus below 10000; the fake renders what it is given.
	f.AddVM(netboxfake.VM{Name: "huge", VCPUs: 20000})
	get(t, f, "/api/virtualization/virtual-machines/", f.Token())
	get(t, f, "/api/dcim/devices/?limit=many", f.Token())
	errs := rec.errors()
	if len(errs) != 2 || !strings.Contains(errs[0], "/results/0/vcpus") || !strings.Contains(errs[1], "limit") {
		t.Errorf("reported %q, want the vcpus answer and the bad limit", errs)
	}
}

func TestServerChecksTheToken(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{Token: "good"})
	tests := []struct{ name, token, detail string }{
		{"refuses_a_missing_token", "", "Authentication credentials were not provided."},
		{"refuses_a_wrong_token", "bad", "Invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, h, body := get(t, f, "/api/dcim/devices/", tt.token)
			if status != http.StatusUnauthorized || body["detail"] != tt.detail || h.Get("WWW-Authenticate") != "Token" {
				t.Errorf("answer %d %v %v, want 401 with detail %q", status, h, body, tt.detail)
			}
		})
	}
	if status, _, _ := get(t, f, "/api/dcim/devices/", "good"); status != http.StatusOK {
		t.Errorf("the good token: %d", status)
	}
}

func TestServerPaginates(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{PageSize: 2, MaxPageSize: 3})
	for i := range 5 {
		f.AddDevice(netboxfake.Device{Name: fmt.Sprintf("d%d", i)})
	}
	tests := []struct {
		name, query string
		names       []string
		next, prev  string
	}{
		{"uses_the_default_page_size", "", []string{"d0", "d1"}, "limit=2&offset=2", ""},
		{"caps_the_limit", "?limit=10&offset=1", []string{"d1", "d2", "d3"}, "limit=3&offset=4", "limit=3"},
		{"ends_with_a_null_next", "?limit=2&offset=4", []string{"d4"}, "", "limit=2&offset=2"},
		{"keeps_the_filters_in_next", "?limit=1&name=d1&name=d3", []string{"d1"}, "limit=1&name=d1&name=d3&offset=1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, page := get(t, f, "/api/dcim/devices/"+tt.query, f.Token())
			var names []string
			for _, r := range page["results"].([]any) {
				names = append(names, r.(map[string]any)["name"].(string))
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("results %v, want %v", names, tt.names)
			}
			for key, want := range map[string]string{"next": tt.next, "previous": tt.prev} {
				got, _ := page[key].(string)
				if want == "" && page[key] != nil || want != "" && !strings.HasSuffix(got, "/api/dcim/devices/?"+want) {
					t.Errorf("%s %v, want ...?%s", key, page[key], want)
				}
			}
		})
	}
}

func TestServerFiltersByCustomFieldAsNetBoxDoes(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "loose"})
	f.AddCustomField(netboxfake.CustomField{Name: "exact", FilterLogic: "exact"})
	f.AddCustomField(netboxfake.CustomField{Name: "off", FilterLogic: "disabled"})
	f.AddDevice(netboxfake.Device{Name: "a", CustomFields: map[string]any{"loose": "CI-1", "exact": "ci-1", "off": "ci-1"}})
	f.AddDevice(netboxfake.Device{Name: "b", CustomFields: map[string]any{"loose": "ci-10", "exact": "ci-10", "off": "x"}})
	f.AddDevice(netboxfake.Device{Name: "c"})
	tests := []struct {
		query string
		count float64
	}{
		{"cf_loose=ci-1", 2},
		{"cf_exact=ci-1", 1},
		{"cf_off=ci-1", 3},
		{"cf_unknown=ci-1", 3},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			_, _, page := get(t, f, "/api/dcim/devices/?"+tt.query, f.Token())
			if page["count"] != tt.count {
				t.Errorf("count %v, want %v", page["count"], tt.count)
			}
		})
	}
}

func TestServerInjectsFaults(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	f := netboxfake.Start(rec, netboxfake.Options{})
	f.AddDevice(netboxfake.Device{Name: "a"})
	c := nb.NewAPIClientFor(f.URL(), f.Token())

	f.Inject(netboxfake.Fault{Path: "/api/dcim/devices/", Times: 1, Status: http.StatusBadGateway})
	if _, resp, err := c.DcimAPI.DcimDevicesList(context.Background()).Execute(); err == nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status fault: %v", err)
	}
	f.Inject(netboxfake.Fault{Path: "/api/dcim/devices/", Times: 1, Malformed: true})
	if _, resp, err := c.DcimAPI.DcimDevicesList(context.Background()).Execute(); err == nil || resp.StatusCode != http.StatusOK {
		t.Errorf("malformed fault: %v", err)
	}
	f.Inject(netboxfake.Fault{Path: "/api/dcim/devices/", Times: 1, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.DcimAPI.DcimDevicesList(ctx).Execute(); err == nil {
		t.Error("delay fault: answered within the deadline")
	}
	if _, _, err := c.DcimAPI.DcimDevicesList(context.Background()).Execute(); err != nil {
		t.Errorf("after the faults: %v", err)
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("the malformed answer was reported as a failure: %q", errs)
	}
	statuses := []int{}
	for _, r := range f.Requests() {
		statuses = append(statuses, r.Status)
	}
	if want := []int{502, 200, 0, 200}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
}

func TestSendWebhookSignsNetBoxBody(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	id := f.AddDevice(netboxfake.Device{Name: "web-1"})
	f.UpdateDevice(id, func(d *netboxfake.Device) { d.Name = "web-2" })
	c := f.LastChange()
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := newReceiver(t, got, bodies)
	secret := []byte("s")
	if err := netboxfake.SendWebhook(srv, secret, c.Model(), c.Event(), c); err != nil {
		t.Fatal(err)
	}
	req, body := <-got, <-bodies
	if sig := req.Header.Get("X-Hook-Signature"); sig != netboxfake.Sign(secret, body) || len(sig) != 128 {
		t.Errorf("signature %q", sig)
	}
	var w struct {
		Event, Model, Timestamp, Username string
		RequestID                         string `json:"request_id"`
		Data                              map[string]any
		Snapshots                         struct{ Prechange, Postchange map[string]any }
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	if w.Event != "updated" || w.Model != "device" || w.RequestID != c.RequestID || w.Data["name"] != "web-2" ||
		w.Snapshots.Prechange["name"] != "web-1" || w.Snapshots.Postchange["name"] != "web-2" {
		t.Errorf("webhook %+v", w)
	}
	if _, err := time.Parse(time.RFC3339Nano, w.Timestamp); err != nil {
		t.Errorf("timestamp: %v", err)
	}
}

func newReceiver(t *testing.T, reqs chan<- *http.Request, bodies chan<- []byte) string {
	t.Helper()
	srv := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- r
		bodies <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	return srv
}
