package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// factsDoc is one host's facts as collect-facts.yml posts them.
func factsDoc(host, sshState string) string {
	return `{"host":"` + host + `","ansible_facts":{"hostname":"` + host + `",
		"date_time":{"iso8601":"` + now.Add(-time.Minute).Format(time.RFC3339) + `"},
		"bios_version":"2.17.0","bios_date":"03/14/2025",
		"packages":{"openssh-server":[{"name":"openssh-server","version":"1:9.2p1-2+deb12u6","arch":"amd64","source":"apt"}]},
		"services":{"ssh.service":{"name":"ssh.service","state":"` + sshState + `","status":"enabled","source":"systemd"}}}}`
}

func TestFacts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("observes_a_hosts_packages_services_and_firmware", func(t *testing.T) {
		var got struct {
			ObservationID string `json:"observation_id"`
			Status        string `json:"status"`
		}
		f.do("POST", "/facts", "application/json", factsDoc("web-1", "running")).want(t, http.StatusAccepted, &got)
		if got.Status != "accepted" || got.ObservationID == "" {
			t.Fatalf("answer %+v", got)
		}
		var ci struct {
			CIType string          `json:"ci_type"`
			Source string          `json:"source"`
			State  json.RawMessage `json:"state"`
		}
		deadline := time.Now().Add(5 * time.Second)
		for f.do("GET", "/drift/cis/web-1", "", nil).status == http.StatusNotFound && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // 202 means durable; the read model follows
		}
		f.do("GET", "/drift/cis/web-1", "", nil).want(t, http.StatusOK, &ci)
		var st struct {
			Packages map[string]any `json:"packages"`
			Services map[string]struct {
				State   string `json:"state"`
				Enabled bool   `json:"enabled"`
			} `json:"services"`
			Firmware map[string]string `json:"firmware"`
		}
		if err := json.Unmarshal(ci.State, &st); err != nil {
			t.Fatal(err)
		}
		if ci.CIType != "node" || ci.Source != "ansible" || st.Packages["openssh-server"] == nil ||
			st.Services["ssh"].State != "running" || st.Firmware["bios_version"] != "2.17.0" {
			t.Fatalf("ci %s %s, state %s", ci.CIType, ci.Source, ci.State)
		}
	})
	t.Run("refuses_a_document_without_a_host_naming_it", func(t *testing.T) {
		f.do("POST", "/facts", "application/json", `{"ansible_facts":{"packages":{}}}`).problem(t, http.StatusBadRequest, "ci_id")
	})
	t.Run("refuses_what_is_not_facts", func(t *testing.T) {
		f.do("POST", "/facts", "application/json", `[1,2]`).problem(t, http.StatusBadRequest)
		f.do("POST", "/facts", "text/plain", factsDoc("web-2", "running")).problem(t, http.StatusUnsupportedMediaType)
	})
}
