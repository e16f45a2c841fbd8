package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

// TestNetBoxIsTheDesiredStateAndItsChangesAloneOpenAndResolveDrift runs serve against a fake
// NetBox (every answer checked against go-netbox's OpenAPI document, decoded by the real
// go-netbox client): a device's record is the CI's desired state, ahead of a template for its
// type; a signed webhook for a change of the record re-evaluates the CI at once, with no new
// observation; a change whose webhook never came is caught up from the change log, and the
// change log's cursor survives a restart.
func TestNetBoxIsTheDesiredStateAndItsChangesAloneOpenAndResolveDrift(t *testing.T) {
	t.Parallel()
	nb := netboxfake.Start(t, netboxfake.Options{})
	id := nb.AddDevice(netboxfake.Device{Name: "nb-01", Status: "active"})
	secret := "netbox-hook-secret-0123456789"
	env := []string{"DRIFTWATCH_NETBOX_TOKEN=" + nb.Token(), "DRIFTWATCH_NETBOX_WEBHOOK_SECRET=" + secret}
	dir := t.TempDir()
	flags := []string{"--netbox-url", nb.URL(), "--netbox-cache-ttl", "10m", "--netbox-changes-every", "500ms"}
	s := startServerEnv(t, dir, env, flags...)
	// A template for the type says otherwise; NetBox governs.
	s.put(http.MethodPut, "/templates/servers", map[string]any{"template_id": "servers", "resource_type": "server",
		"template_definition": map[string]any{"power_state": "stopped", "site": "elsewhere", "role": "server"}})
	state := func(power string) map[string]any {
		return map[string]any{"power_state": power, "site": "dc1", "role": "server"}
	}
	s.observe(map[string]any{"id": "nb-obs-1", "ci_id": "nb-01", "ci_type": "server", "state": state("stopped")})
	l := s.waitForDrifts("nb-01", "open", 1)
	var d struct {
		Field         string `json:"field"`
		DesiredSource string `json:"desired_source"`
	}
	s.do(http.MethodGet, "/drift/events/"+l.Items[0].DriftID, nil, &d)
	if d.Field != "/power_state" || d.DesiredSource != "netbox" {
		t.Fatalf("drift %+v, want /power_state judged against netbox", d)
	}

	// NetBox now says offline (stopped): the webhook alone resolves the drift.
	nb.UpdateDevice(id, func(d *netboxfake.Device) { d.Status = "offline" })
	if err := netboxfake.SendWebhook(s.url+"/webhooks/netbox", []byte(secret), "device", "updated", nb.LastChange()); err != nil {
		t.Fatal(err)
	}
	proctest.WaitUntil(t, 2*time.Second, "the webhook resolves nb-01's drift", func() bool {
		return s.drifts("?ci=nb-01&status=resolved").Total == 1
	})
	// A forged webhook is refused.
	if err := netboxfake.SendWebhook(s.url+"/webhooks/netbox", []byte("wrong"), "device", "updated", nb.LastChange()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a webhook signed with another secret: %v, want 401", err)
	}

	// Active again, and the webhook is lost: the change log catches it up.
	nb.UpdateDevice(id, func(d *netboxfake.Device) { d.Status = "active" })
	proctest.WaitUntil(t, 5*time.Second, "the change log reopens nb-01's drift", func() bool {
		return s.drifts("?ci=nb-01&status=open").Total == 1
	})
	cursorFile := filepath.Join(dir, "netbox-changes.cursor")
	var cursor int64
	proctest.WaitUntil(t, 3*time.Second, "the cursor reaches the last change", func() bool {
		raw, _ := os.ReadFile(cursorFile)
		cursor, _ = strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		return cursor == nb.LastChange().ID
	})
	s.Stop()
	// Changed while driftwatch is down: caught up after it starts, from the cursor on.
	nb.UpdateDevice(id, func(d *netboxfake.Device) { d.Status = "offline" })
	s = startServerEnv(t, dir, env, flags...)
	proctest.WaitUntil(t, 5*time.Second, "the change made while down resolves nb-01's drift", func() bool {
		return s.drifts("?ci=nb-01&status=open").Total == 0 && s.drifts("?ci=nb-01&status=resolved").Total == 2
	})
	proctest.WaitUntil(t, 3*time.Second, "the cursor moves past the change made while down, not back", func() bool {
		raw, _ := os.ReadFile(cursorFile)
		got, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		return got == nb.LastChange().ID && got > cursor
	})
}
