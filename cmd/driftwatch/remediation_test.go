package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// TestServeRemediatesADriftedFileAndClosesItsChangeRequest runs the remediation loop in a
// `driftwatch serve` process: a drifted file of a local directory target opens a drift and
// its change request in (fake) ServiceNow, a real ansible-runner playbook restores the file,
// and the next observation of the directory resolves the drift and closes the change request.
func TestServeRemediatesADriftedFileAndClosesItsChangeRequest(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ansible-runner"); err != nil {
		testenv.Missing(t, "ansible-runner is not in PATH (apt-get install python3-ansible-runner ansible-core)")
	}
	creds := servicenowfake.Config{Username: "driftwatch", Password: "s3cret"}
	sn := servicenowfake.Start(t, creds)
	playbooks, err := filepath.Abs("../../handlers/action/testdata/playbooks")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	motd := filepath.Join(root, "motd")
	if err := os.WriteFile(motd, []byte("hacked\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(t.TempDir(), "hosts.ini")
	hosts := "[targets]\nfiles-1 target_root=" + root + "\n[targets:vars]\nansible_connection=local\nansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n"
	if err := os.WriteFile(inv, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, t.TempDir(),
		[]string{"DRIFTWATCH_SERVICENOW_USER=" + creds.Username, "DRIFTWATCH_SERVICENOW_PASSWORD=" + creds.Password},
		"--playbook-dir", playbooks, "--playbook-inventory", inv, "--servicenow-url", sn.URL())
	s.put(http.MethodPut, "/templates/files", map[string]any{
		"template_id": "files", "resource_type": "directory",
		"template_definition": map[string]any{"files": map[string]any{"motd": "Welcome\n"}},
	})
	s.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": "files", "template_id": "files", "monitored_fields": []string{"/files/*"}, "severity": "high",
		"category": "configuration", "action_type": "auto_correct", "script": "restore-file",
		"auto_remediate": true, "auto_change_request": true,
	})
	// The directory's observer: what an agent watching it would send.
	n := 0
	observe := func() {
		t.Helper()
		raw, err := os.ReadFile(motd)
		if err != nil {
			t.Fatal(err)
		}
		n++
		s.observe(map[string]any{"id": fmt.Sprintf("files-1-%d", n), "ci_id": "files-1", "ci_type": "directory",
			"state": map[string]any{"files": map[string]any{"motd": string(raw)}}})
	}

	observe()
	proctest.WaitUntil(t, 90*time.Second, "the playbook restored the file", func() bool {
		raw, _ := os.ReadFile(motd)
		return string(raw) == "Welcome\n"
	})
	observe()
	var id string
	proctest.WaitUntil(t, 30*time.Second, "the drift resolved and its change request closed", func() bool {
		l := s.drifts("?ci=files-1&status=resolved")
		cr := sn.Records("change_request")
		if l.Total != 1 || len(cr) != 1 {
			return false
		}
		id = l.Items[0].DriftID
		return cr[0]["state"] == "3" && cr[0]["correlation_id"] == id
	})
	var d struct {
		Status   string `json:"status"`
		Ticket   string `json:"ticket"`
		Attempts int    `json:"remediation_attempts"`
	}
	if code := s.do(http.MethodGet, "/drift/events/"+id, nil, &d); code != http.StatusOK {
		t.Fatalf("GET /drift/events/%s: %d", id, code)
	}
	if cr := sn.Records("change_request")[0]; d.Ticket != cr["number"] || d.Status != "resolved" || d.Attempts != 1 {
		t.Fatalf("drift %+v, change request %s", d, cr["number"])
	}
	if inc := sn.Records("incident"); len(inc) != 0 {
		t.Fatalf("a remediated drift opened %d incidents", len(inc))
	}
}

// TestServeEscalatesADriftWhosePlaybookKeepsFailing: with the playbook failing on purpose,
// the drift escalates to one incident after --remediation-attempts attempts.
func TestServeEscalatesADriftWhosePlaybookKeepsFailing(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ansible-runner"); err != nil {
		testenv.Missing(t, "ansible-runner is not in PATH (apt-get install python3-ansible-runner ansible-core)")
	}
	creds := servicenowfake.Config{Username: "driftwatch", Password: "s3cret"}
	sn := servicenowfake.Start(t, creds)
	playbooks, err := filepath.Abs("../../handlers/action/testdata/playbooks")
	if err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, t.TempDir(),
		[]string{"DRIFTWATCH_SERVICENOW_USER=" + creds.Username, "DRIFTWATCH_SERVICENOW_PASSWORD=" + creds.Password},
		"--playbook-dir", playbooks, "--servicenow-url", sn.URL(), "--remediation-attempts", "2")
	s.put(http.MethodPut, "/templates/files", map[string]any{
		"template_id": "files", "resource_type": "directory",
		"template_definition": map[string]any{"files": map[string]any{"motd": "Welcome\n"}},
	})
	s.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": "files", "template_id": "files", "monitored_fields": []string{"/files/*"}, "severity": "high",
		"category": "configuration", "action_type": "auto_correct", "script": "broken",
		"auto_remediate": true, "auto_change_request": true,
	})
	s.observe(map[string]any{"id": "files-2-1", "ci_id": "files-2", "ci_type": "directory",
		"state": map[string]any{"files": map[string]any{"motd": "hacked\n"}}})
	var d struct {
		DriftID  string `json:"drift_id"`
		Status   string `json:"status"`
		Ticket   string `json:"ticket"`
		Incident string `json:"incident"`
		Attempts int    `json:"remediation_attempts"`
	}
	proctest.WaitUntil(t, 90*time.Second, "the drift escalated to an incident", func() bool {
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if s.do(http.MethodGet, "/drift/events?ci=files-2&status=escalated", nil, &l) != http.StatusOK || len(l.Items) != 1 {
			return false
		}
		return json.Unmarshal(l.Items[0], &d) == nil && d.Incident != ""
	})
	inc, cr := sn.Records("incident"), sn.Records("change_request")
	if len(inc) != 1 || len(cr) != 1 || d.Incident != inc[0]["number"] || d.Ticket != cr[0]["number"] || d.Attempts != 2 {
		t.Fatalf("drift %+v; %d incidents, %d change requests", d, len(inc), len(cr))
	}
}
