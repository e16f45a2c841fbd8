package netbox_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestDesiredClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     netboxfake.Fault
		token     string // the adapter's, when not the fake's
		urlSuffix string
		permanent bool
		want      []string // in the error message
		timeout   bool
	}{
		{name: "a_timeout_is_retryable", fault: netboxfake.Fault{Path: devices, Delay: 5 * time.Second}, timeout: true,
			want: []string{"list dcim.device"}}, // and a net.Error whose Timeout() is true (below); Go words it either way
		{name: "a_503_is_retryable", fault: netboxfake.Fault{Path: devices, Status: http.StatusServiceUnavailable},
			want: []string{"list dcim.device", "503 Service Unavailable"}},
		{name: "a_500_is_retryable", fault: netboxfake.Fault{Path: "/api/dcim/interfaces/", Status: http.StatusInternalServerError},
			want: []string{"list dcim.interface device_id=1", "500 Internal Server Error"}},
		{name: "a_429_is_retryable", fault: netboxfake.Fault{Path: devices, Status: http.StatusTooManyRequests},
			want: []string{"429 Too Many Requests"}},
		{name: "a_malformed_id_is_permanent_and_named", fault: netboxfake.Fault{Path: devices, Malformed: true}, permanent: true,
			want: []string{`list dcim.device name="web-1"`, "does not match NetBox's schema", `"results.id"`}},
		{name: "a_malformed_status_is_permanent_and_named", fault: netboxfake.Fault{Path: devices, Malformed: true, Field: "status"}, permanent: true,
			want: []string{`list dcim.device name="web-1"`, "does not match NetBox's schema", `"results.status"`}},
		{name: "a_malformed_interface_is_permanent_and_named", fault: netboxfake.Fault{Path: "/api/dcim/interfaces/", Malformed: true, Field: "enabled"}, permanent: true,
			want: []string{"list dcim.interface device_id=1", `"results.enabled"`}},
		{name: "a_refused_token_is_permanent", token: "wrong", permanent: true,
			want: []string{"NetBox refused the API token", "401 Unauthorized", "Invalid token"}},
		{name: "a_403_is_permanent", fault: netboxfake.Fault{Path: devices, Status: http.StatusForbidden}, permanent: true,
			want: []string{"NetBox refused the API token", "403 Forbidden"}},
		{name: "a_wrong_url_is_permanent", urlSuffix: "/netbox", permanent: true,
			want: []string{"NetBox has no such API", "/netbox/api/", "check the URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := netboxfake.Start(t, netboxfake.Options{})
			f.AddDevice(netboxfake.Device{Name: "web-1"})
			f.AddDeviceInterface(1, netboxfake.Interface{Name: "eth0", Enabled: true})
			f.Inject(tt.fault)
			cfg := netbox.Config{Token: tt.token, Timeout: 200 * time.Millisecond}
			if tt.urlSuffix != "" {
				cfg.URL = f.URL() + tt.urlSuffix
			}
			s := newSource(t, f, cfg)
			_, _, err := s.Desired(context.Background(), enrich.Query{CIID: "web-1"})
			if err == nil {
				t.Fatal("Desired succeeded")
			}
			if fault.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent %v, want %v: %v", fault.IsPermanent(err), tt.permanent, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var ne net.Error
			if tt.timeout && !(errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("error %v is not a timeout", err)
			}
		})
	}
}

func TestDesiredDoesNotCacheFailures(t *testing.T) {
	t.Parallel()
	f := netboxfake.Start(t, netboxfake.Options{})
	f.AddDevice(netboxfake.Device{Name: "web-1"})
	f.Inject(netboxfake.Fault{Path: devices, Times: 1, Status: http.StatusBadGateway})
	s := newSource(t, f, netbox.Config{})
	if _, _, err := s.Desired(context.Background(), enrich.Query{CIID: "web-1"}); err == nil || fault.IsPermanent(err) {
		t.Fatalf("first Desired = %v, want a retryable error", err)
	}
	mustFind(t, s, "web-1")
}

func TestDesiredReportsAnUnreachableNetBoxAsRetryable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s, err := netbox.New(netbox.Config{URL: "http://" + addr, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Desired(context.Background(), enrich.Query{CIID: "web-1"})
	if err == nil || fault.IsPermanent(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want a retryable connection error", err)
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	t.Parallel()
	_, err := netbox.New(netbox.Config{URL: "ftp://x", PageSize: 5000, Timeout: -time.Second, CacheTTL: -time.Second})
	if err == nil {
		t.Fatal("New accepted the config")
	}
	for _, w := range []string{"url:", "token: required", "page_size:", "timeout:", "cache_ttl:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not report %q", err, w)
		}
	}
	if _, err := netbox.New(netbox.Config{URL: "https://netbox.example.com/api/", Token: "t"}); err != nil {
		t.Errorf("New refused a good config: %v", err)
	}
}
