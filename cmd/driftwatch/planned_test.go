package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/notify/pagerduty"
	"github.com/driftwatch/driftwatch/internal/testsupport/pagerdutyfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/smtpfake"
)

// TestServeMarksADriftInAnApprovedChangesWindowPlannedAndNeverPagesForIt runs serve with
// ServiceNow as its ITSM system (CI ids are CMDB names) and PagerDuty among its receivers.
// web-01 has an approved change request in its implementation window, web-02 none: both
// drift; web-01's drift is planned, names the change and pages nobody, web-02's pages.
func TestServeMarksADriftInAnApprovedChangesWindowPlannedAndNeverPagesForIt(t *testing.T) {
	t.Parallel()
	const key = "R0123456789abcdefABCDEF012345678"
	creds := servicenowfake.Config{Username: "driftwatch", Password: "s3cret"}
	sn := servicenowfake.Start(t, creds)
	now := time.Now().UTC()
	chg := sn.Create(t, servicenowfake.TableChangeRequest, map[string]string{
		"cmdb_ci": "web-01", "approval": "approved", "state": "-1", "short_description": "resize web-01",
		"start_date": now.Add(-time.Hour).Format(time.DateTime), "end_date": now.Add(time.Hour).Format(time.DateTime),
	})["number"]
	mail := smtpfake.Start(t, smtpfake.Config{})
	pd := pagerdutyfake.Start(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "notify.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `smtp: {addr: %q, from: "Driftwatch <drift@example.com>"}
receivers:
  - {name: ops-mail, email: {to: [ops@example.com]}}
  - {name: oncall, pagerduty: {routing_key_env: TEST_PAGERDUTY_KEY, url: %q}}
routes:
  - receivers: [ops-mail, oncall]
`, mail.Addr(), pd.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, filepath.Join(dir, "data"),
		[]string{"TEST_PAGERDUTY_KEY=" + key, "DRIFTWATCH_SERVICENOW_USER=" + creds.Username, "DRIFTWATCH_SERVICENOW_PASSWORD=" + creds.Password},
		"--notify-config", config, "--servicenow-url", sn.URL(), "--servicenow-cmdb-cis")
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": "vm-power", "ci_type": "vm", "monitored_fields": []string{"power_state"},
		"severity": "critical", "category": "state", "auto_change_request": true})

	s.observe(observation("p-1", "web-01", "off"))
	s.observe(observation("p-2", "web-02", "off"))
	planned := s.waitForDrifts("web-01", "open", 1).Items[0]
	unplanned := s.waitForDrifts("web-02", "open", 1).Items[0]
	proctest.WaitUntil(t, 10*time.Second, "both openings mailed", func() bool { return len(mail.Messages()) == 2 })

	type view struct {
		Planned       bool   `json:"planned"`
		PlannedChange string `json:"planned_change"`
	}
	var v view
	proctest.WaitUntil(t, 10*time.Second, "web-01's drift planned", func() bool {
		return s.do(http.MethodGet, "/drift/events/"+planned.DriftID, nil, &v) == http.StatusOK && v.Planned
	})
	if v.PlannedChange != chg {
		t.Errorf("web-01's drift is planned under %q, want the approved change %s", v.PlannedChange, chg)
	}
	if s.do(http.MethodGet, "/drift/events/"+unplanned.DriftID, nil, &v); v.Planned {
		t.Errorf("web-02's drift is planned (%q) without a change", v.PlannedChange)
	}
	if got := pd.Alert(pagerduty.DedupKey(planned.DriftID)); got.Alerts != 0 {
		t.Errorf("the planned drift paged: %+v", got)
	}
	if got := pd.Alert(pagerduty.DedupKey(unplanned.DriftID)); got.Triggers != 1 {
		t.Errorf("the unplanned drift's alert is %+v, want one trigger", got)
	}
	// A planned drift is planned for as any other: its change request is opened.
	proctest.WaitUntil(t, 10*time.Second, "two change requests of driftwatch's", func() bool {
		n := 0
		for _, r := range sn.Records(servicenowfake.TableChangeRequest) {
			if r["correlation_id"] != "" {
				n++
			}
		}
		return n == 2
	})
	// The planner and the notify stage both asked whether web-01's drift is planned: they
	// share one question to the calendar.
	asked := 0
	for _, r := range sn.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Query.Get("sysparm_query"), "cmdb_ci.name=web-01^") {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("the change calendar was asked about web-01 %d times, want once", asked)
	}
}
