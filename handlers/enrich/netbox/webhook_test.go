package netbox_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// delivery is one webhook as the receiver got it.
type delivery struct {
	body      []byte
	signature string
	present   bool
}

// receiver is an HTTP endpoint that keeps what NetBox posts to it.
func receiver(t *testing.T) (string, <-chan delivery) {
	t.Helper()
	got := make(chan delivery, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sig, present := r.Header[http.CanonicalHeaderKey(netbox.SignatureHeader)]
		d := delivery{body: body, present: present}
		if present {
			d.signature = sig[0]
		}
		got <- d
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

// deliver posts obj as a webhook and returns what the receiver got.
func deliver(t *testing.T, secret []byte, model, event string, obj any) delivery {
	t.Helper()
	url, got := receiver(t)
	if err := netboxfake.SendWebhook(url, secret, model, event, obj); err != nil {
		t.Fatal(err)
	}
	return <-got
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-shared-with-netbox")
	signed := deliver(t, secret, "device", "updated", map[string]any{"id": 1, "name": "web-1"})
	unsigned := deliver(t, nil, "device", "updated", map[string]any{"id": 1, "name": "web-1"})
	tampered := slices.Clone(signed.body)
	tampered[len(tampered)/2] ^= 0x01

	tests := []struct {
		name      string
		secret    []byte
		body      []byte
		header    string
		wantError string
	}{
		{"accepts_netbox_signature", secret, signed.body, signed.signature, ""},
		{"accepts_upper_case_hex", secret, signed.body, strings.ToUpper(signed.signature), ""},
		{"refuses_another_secret", []byte("other"), signed.body, signed.signature, "does not match the body"},
		{"refuses_a_body_with_one_byte_changed", secret, tampered, signed.signature, "does not match the body"},
		{"refuses_a_missing_header", secret, unsigned.body, unsigned.signature, "X-Hook-Signature: missing"},
		{"refuses_a_header_that_is_not_hex", secret, signed.body, "sha512=" + signed.signature, "not hex"},
		{"refuses_a_truncated_signature", secret, signed.body, signed.signature[:64], "32 bytes, an HMAC-SHA512 has 64"},
		{"refuses_to_verify_without_a_secret", nil, signed.body, signed.signature, "secret: required"},
	}
	if unsigned.present {
		t.Fatalf("a webhook without a secret was signed: %q", unsigned.signature)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := netbox.VerifySignature(tt.secret, tt.body, tt.header)
			if tt.wantError == "" {
				if err != nil {
					t.Fatalf("VerifySignature = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantError) || !fault.IsPermanent(err) {
				t.Fatalf("VerifySignature = %v, want a permanent error saying %q", err, tt.wantError)
			}
		})
	}
}

func TestParseWebhookReportsWhatItTouches(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddCustomField(netboxfake.CustomField{Name: "driftwatch_ci"})
	web := f.AddDevice(netboxfake.Device{Name: "web-1"})
	db := f.AddDevice(netboxfake.Device{Name: "db-1", CustomFields: map[string]any{"driftwatch_ci": "ci-db"}})
	eth0 := f.AddDeviceInterface(web, netboxfake.Interface{Name: "eth0", Enabled: true})
	vm := f.AddVM(netboxfake.VM{Name: "vm-1"})
	cc := f.AddConfigContext(netboxfake.ConfigContext{Name: "base", Data: map[string]any{"driftwatch": map[string]any{}}})

	type step struct {
		name   string
		change func() netboxfake.Change
		event  string
		all    bool
		names  []string
	}
	steps := []step{
		{"a_rename_touches_both_names", func() netboxfake.Change {
			f.UpdateDevice(web, func(d *netboxfake.Device) { d.Name = "web-01" })
			return f.LastChange()
		}, "updated", false, []string{"web-01", "web-1"}},
		{"a_device_touches_its_driftwatch_ci", func() netboxfake.Change {
			f.UpdateDevice(db, func(d *netboxfake.Device) { d.Status = "offline" })
			return f.LastChange()
		}, "updated", false, []string{"ci-db", "db-1"}},
		{"an_interface_touches_its_device", func() netboxfake.Change {
			f.UpdateDeviceInterface(eth0, func(_ *int, i *netboxfake.Interface) { i.MTU = 9000 })
			return f.LastChange()
		}, "updated", false, []string{"web-01"}},
		{"an_interface_moved_away_touches_all", func() netboxfake.Change {
			f.UpdateDeviceInterface(eth0, func(dev *int, _ *netboxfake.Interface) { *dev = db })
			return f.LastChange()
		}, "updated", true, []string{"db-1"}},
		{"a_vm_interface_touches_its_vm", func() netboxfake.Change {
			f.AddVMInterface(vm, netboxfake.Interface{Name: "ens3", Enabled: true})
			return f.LastChange()
		}, "created", false, []string{"vm-1"}},
		{"a_config_context_touches_all", func() netboxfake.Change {
			f.UpdateConfigContext(cc, func(c *netboxfake.ConfigContext) { c.Weight = 10 })
			return f.LastChange()
		}, "updated", true, nil},
		{"a_custom_field_touches_all", func() netboxfake.Change {
			f.AddCustomField(netboxfake.CustomField{Name: "owner"})
			return f.LastChange()
		}, "created", true, nil},
		{"a_deleted_vm_touches_its_name", func() netboxfake.Change {
			f.DeleteVM(vm)
			return f.LastChange()
		}, "deleted", false, []string{"vm-1"}},
	}
	secret := []byte("k")
	for _, st := range steps {
		c := st.change()
		t.Run(st.name, func(t *testing.T) {
			d := deliver(t, secret, c.Model(), c.Event(), c)
			if err := netbox.VerifySignature(secret, d.body, d.signature); err != nil {
				t.Fatal(err)
			}
			w, err := netbox.ParseWebhook(d.body)
			if err != nil {
				t.Fatal(err)
			}
			if w.Event != st.event || w.Model != c.Model() || w.RequestID != c.RequestID || w.Timestamp.IsZero() || w.Username == "" {
				t.Errorf("webhook %+v does not carry the change's event %s, model %s and request %s", w, st.event, c.Model(), c.RequestID)
			}
			if w.Touched.All != st.all || !slices.Equal(w.Touched.Names, st.names) {
				t.Errorf("touched %+v, want all %v names %v", w.Touched, st.all, st.names)
			}
		})
	}

	others := []struct {
		name, model string
		all         bool
	}{
		{"a_platform_touches_all", "platform", true},
		{"a_config_template_touches_all", "configtemplate", true},
		{"an_app_qualified_model_is_understood", "extras.configcontext", true},
		{"an_unrelated_model_touches_nothing", "circuit", false},
	}
	for _, tt := range others {
		t.Run(tt.name, func(t *testing.T) {
			d := deliver(t, nil, tt.model, "updated", map[string]any{"id": 3, "name": "x", "slug": "x"})
			w, err := netbox.ParseWebhook(d.body)
			if err != nil {
				t.Fatal(err)
			}
			if w.Touched.All != tt.all || len(w.Touched.Names) != 0 {
				t.Errorf("touched %+v, want all %v and no names", w.Touched, tt.all)
			}
		})
	}
}

func TestParseWebhookRefusesABadBody(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"not_json", `{"event": "updated",`, "body: not a JSON object"},
		{"an_array", `[{"event": "updated"}]`, "body: not a JSON object"},
		{"trailing_data", `{"event": "updated", "model": "site", "data": {}} {}`, "trailing data"},
		{"no_model", `{"event": "updated", "data": {"name": "x"}}`, "model: missing"},
		{"no_event", `{"model": "device", "data": {"name": "x"}}`, "event: missing"},
		{"an_unknown_event", `{"event": "job_started", "model": "device", "data": {"name": "x"}}`, `event: "job_started" is not created, updated or deleted`},
		{"data_not_an_object", `{"event": "updated", "model": "device", "data": "web-1"}`, "data: must be a JSON object or null, got a string"},
		{"a_device_without_data", `{"event": "deleted", "model": "device"}`, "data: missing"},
		{"a_snapshot_not_an_object", `{"event": "updated", "model": "device", "data": {}, "snapshots": {"prechange": 7}}`, "snapshots.prechange: must be a JSON object or null, got a number"},
		{"a_bad_timestamp", `{"event": "updated", "model": "site", "timestamp": "yesterday"}`, `timestamp: "yesterday" is not an ISO 8601 time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := netbox.ParseWebhook([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !fault.IsPermanent(err) {
				t.Fatalf("ParseWebhook = %v, want a permanent error saying %q", err, tt.want)
			}
		})
	}
	t.Run("reports_every_problem_at_once", func(t *testing.T) {
		t.Parallel()
		_, err := netbox.ParseWebhook([]byte(`{"data": 1}`))
		for _, w := range []string{"event: missing", "model: missing", "data: must be"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("ParseWebhook = %v, want it to say %q", err, w)
			}
		}
	})
}
