package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/notify/pagerduty"
	"github.com/driftwatch/driftwatch/internal/testsupport/pagerdutyfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/slackfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/smtpfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/webhookfake"
)

// TestServeNotifiesADriftsLifecycle runs serve with a notify config against the four fakes:
// a drift's opening reaches the mail, Slack, PagerDuty and webhook receivers and the address
// its policy names, once each; its acknowledgement acknowledges the PagerDuty alert and its
// resolution resolves it and tells the others.
func TestServeNotifiesADriftsLifecycle(t *testing.T) {
	t.Parallel()
	const (
		key    = "R0123456789abcdefABCDEF012345678"
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	)
	mail := smtpfake.Start(t, smtpfake.Config{})
	chat := slackfake.Start(t)
	pd := pagerdutyfake.Start(t)
	hook := webhookfake.Start(t, secret)
	config := fmt.Sprintf(`public_url: https://driftwatch.example
smtp: {addr: %q, from: "Driftwatch <drift@example.com>"}
receivers:
  - {name: ops-mail, email: {to: [ops@example.com]}}
  - {name: ops-slack, slack: {webhook_url_env: TEST_SLACK_URL}}
  - {name: oncall, pagerduty: {routing_key_env: TEST_PAGERDUTY_KEY, url: %q}}
  - {name: audit, webhook: {url: %q, secrets_env: [TEST_HOOK_SECRET]}}
routes:
  - receivers: [ops-mail, audit]
  - {receivers: [ops-slack, oncall], min_severity: high}
`, mail.Addr(), pd.URL(), hook.URL())
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, filepath.Join(dir, "data"),
		[]string{"TEST_SLACK_URL=" + chat.URL(), "TEST_PAGERDUTY_KEY=" + key, "TEST_HOOK_SECRET=" + secret},
		"--notify-config", path)
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.put(http.MethodPost, "/drift/policies", map[string]any{
		"id": "vm-power", "ci_type": "vm", "monitored_fields": []string{"power_state"},
		"severity": "high", "category": "state", "notify": []string{"team@example.com"}})

	received := func() [4]int { return [4]int{len(mail.Messages()), chat.Requests(), pd.Requests(), hook.Requests()} }
	waitReceived := func(want [4]int) {
		t.Helper()
		proctest.WaitUntil(t, 10*time.Second, fmt.Sprintf("mail, slack, pagerduty, webhook received %v", want), func() bool {
			return received() == want
		})
	}

	s.observe(observation("n-1", "web-01", "off"))
	d := s.waitForDrifts("web-01", "open", 1).Items[0]
	waitReceived([4]int{2, 1, 1, 1})
	var to []string
	for _, m := range mail.Messages() {
		to = append(to, m.To...)
	}
	slices.Sort(to)
	if !slices.Equal(to, []string{"ops@example.com", "team@example.com"}) {
		t.Errorf("mail went to %v", to)
	}
	dedup := pagerduty.DedupKey(d.DriftID)
	if got := pd.Alert(dedup); got.Status != pagerdutyfake.StatusTriggered || got.Triggers != 1 {
		t.Errorf("alert %+v after the opening", got)
	}

	s.observe(observation("n-2", "web-01", "off")) // the same state again: no repeat
	if code := s.do(http.MethodPost, "/drift/events/"+d.DriftID+"/acknowledge", map[string]any{"by": "alice"}, nil); code != http.StatusOK {
		t.Fatalf("acknowledge: %d", code)
	}
	waitReceived([4]int{4, 2, 2, 2})
	if got := pd.Alert(dedup); got.Status != pagerdutyfake.StatusAcknowledged {
		t.Errorf("alert %+v after the acknowledgement", got)
	}

	s.observe(observation("n-3", "web-01", "on"))
	s.waitForDrifts("web-01", "resolved", 1)
	waitReceived([4]int{6, 3, 3, 3})
	if got := pd.Alert(dedup); got != (pagerdutyfake.Alert{Status: pagerdutyfake.StatusResolved, Alerts: 1, Triggers: 1, Acknowledges: 1, Resolves: 1}) {
		t.Errorf("alert %+v after the resolution", got)
	}
}
