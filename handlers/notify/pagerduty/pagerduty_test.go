package pagerduty_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/handlers/notify/pagerduty"
	"github.com/driftwatch/driftwatch/internal/testsupport/pagerdutyfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

const routingKey = "R0123456789abcdefABCDEF012345678"

func sample(ev notify.Event) notify.Notification {
	n := notify.Notification{
		Key: "7f3a/" + string(ev), DriftID: "7f3a", Event: ev,
		CIID: "web-01", CIType: "vm", Field: "/power_state",
		Category: drift.CategoryState, Severity: drift.SeverityHigh,
		Summary: `web-01 /power_state: desired "running", actual "stopped"`,
		Desired: json.RawMessage(`"running"`), Actual: json.RawMessage(`"stopped"`),
		Detail:   "--- desired\n+++ actual\n@@ -1 +1 @@\n-running\n+stopped\n",
		PolicyID: "vm-power", Ticket: "INC0012345",
		URL: "https://driftwatch.example/drifts/7f3a",
		At:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if ev == notify.EventAcknowledged {
		n.By = "alice"
	}
	return n
}

func newSender(t *testing.T, url string) *pagerduty.Sender {
	t.Helper()
	s, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: url, ClientURL: "https://driftwatch.example", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const trigger = `{
	"routing_key": "R0123456789abcdefABCDEF012345678",
	"event_action": "trigger",
	"dedup_key": "driftwatch/7f3a",
	"payload": {
		"summary": "SUMMARY",
		"source": "web-01",
		"severity": "error",
		"timestamp": "2026-01-02T03:04:05Z",
		"component": "/power_state",
		"group": "vm",
		"class": "state",
		"custom_details": {
			"drift_id": "7f3a", "event": "EVENT", "ci_id": "web-01", "ci_type": "vm",
			"field": "/power_state", "category": "state", "severity": "high", "planned": false,
			"desired": "running", "actual": "stopped", "policy_id": "vm-power", "ticket": "INC0012345",
			"url": "https://driftwatch.example/drifts/7f3a",
			"detail": "--- desired\n+++ actual\n@@ -1 +1 @@\n-running\n+stopped\n"
		}
	},
	"client": "driftwatch",
	"client_url": "https://driftwatch.example",
	"links": [{"href": "https://driftwatch.example/drifts/7f3a", "text": "Drift in driftwatch"}]
}`

func TestSendEnqueuesTheExactEventForEachEvent(t *testing.T) {
	t.Parallel()
	summary := `web-01 /power_state: desired \"running\", actual \"stopped\"`
	r := strings.NewReplacer
	tests := []struct {
		name  string
		event notify.Event
		want  string
	}{
		{"an_opened_drift_triggers", notify.EventOpened, r("SUMMARY", summary, "EVENT", "opened").Replace(trigger)},
		{"an_escalated_drift_triggers_again", notify.EventEscalated, r("SUMMARY", "[escalated] "+summary, "EVENT", "escalated").Replace(trigger)},
		{"an_acknowledged_drift_acknowledges", notify.EventAcknowledged,
			`{"routing_key": "R0123456789abcdefABCDEF012345678", "event_action": "acknowledge", "dedup_key": "driftwatch/7f3a"}`},
		{"a_resolved_drift_resolves", notify.EventResolved,
			`{"routing_key": "R0123456789abcdefABCDEF012345678", "event_action": "resolve", "dedup_key": "driftwatch/7f3a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pagerdutyfake.Start(t)
			if tt.event != notify.EventOpened && tt.event != notify.EventEscalated {
				// Acknowledge and resolve act on an open alert.
				if err := newSender(t, fake.URL()).Send(context.Background(), sample(notify.EventOpened)); err != nil {
					t.Fatal(err)
				}
			}
			if err := newSender(t, fake.URL()).Send(context.Background(), sample(tt.event)); err != nil {
				t.Fatalf("send: %v (rejected: %v)", err, fake.Rejected())
			}
			evs := fake.Events()
			got := evs[len(evs)-1].Raw
			if !testenv.JSONEqual(t, got, []byte(tt.want)) {
				t.Errorf("event\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestSendMakesOneAlertPerDrift(t *testing.T) {
	t.Parallel()
	fake := pagerdutyfake.Start(t)
	s := newSender(t, fake.URL())
	steps := []struct {
		event notify.Event
		want  pagerdutyfake.Alert
	}{
		{notify.EventOpened, pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 1, Triggers: 1}},
		{notify.EventOpened, pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 1, Triggers: 2}},
		{notify.EventEscalated, pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 1, Triggers: 3}},
		{notify.EventAcknowledged, pagerdutyfake.Alert{Status: pagerdutyfake.StatusAcknowledged, Alerts: 1, Triggers: 3, Acknowledges: 1}},
		{notify.EventResolved, pagerdutyfake.Alert{Status: pagerdutyfake.StatusResolved, Alerts: 1, Triggers: 3, Acknowledges: 1, Resolves: 1}},
		{notify.EventResolved, pagerdutyfake.Alert{Status: pagerdutyfake.StatusResolved, Alerts: 1, Triggers: 3, Acknowledges: 1, Resolves: 1, Dropped: 1}},
	}
	for i, st := range steps {
		if err := s.Send(context.Background(), sample(st.event)); err != nil {
			t.Fatalf("step %d (%s): %v", i, st.event, err)
		}
		if got := fake.Alert("driftwatch/7f3a"); got != st.want {
			t.Errorf("after step %d (%s): %+v, want %+v", i, st.event, got, st.want)
		}
	}
	other := sample(notify.EventOpened)
	other.DriftID = "9c1b"
	if err := s.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if got := fake.Alert("driftwatch/9c1b"); got.Alerts != 1 {
		t.Errorf("another drift: %+v, want its own alert", got)
	}
}

func TestSendCutsOversizedEventsToTheLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*notify.Notification)
	}{
		{"a_multibyte_detail_over_512_kb", func(n *notify.Notification) { n.Detail = strings.Repeat("é✓🙂x", 80_000) }},
		{"a_detail_of_characters_json_escapes", func(n *notify.Notification) { n.Detail = strings.Repeat("\"\\\x01<", 200_000) }},
		{"an_invalid_utf8_detail", func(n *notify.Notification) { n.Detail = strings.Repeat("ab\xff", 300_000) }},
		{"huge_values_and_detail", func(n *notify.Notification) {
			n.Detail = strings.Repeat("d", 600_000)
			n.Desired = json.RawMessage(`"` + strings.Repeat("v", 400_000) + `"`)
			n.Actual = json.RawMessage(`"` + strings.Repeat("a", 400_000) + `"`)
		}},
		{"a_summary_over_1024_characters", func(n *notify.Notification) { n.Summary = strings.Repeat("ü", 5000) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pagerdutyfake.Start(t)
			n := sample(notify.EventOpened)
			tt.edit(&n)
			if err := newSender(t, fake.URL()).Send(context.Background(), n); err != nil {
				t.Fatalf("send: %v (rejected: %v)", err, fake.Rejected())
			}
			ev := fake.Events()[0]
			if len(ev.Raw) > pagerduty.MaxEventBytes || !utf8.Valid(ev.Raw) {
				t.Fatalf("event of %d bytes, valid UTF-8 %v", len(ev.Raw), utf8.Valid(ev.Raw))
			}
			if summary := ev.Payload["summary"].(string); utf8.RuneCountInString(summary) > pagerduty.MaxSummary {
				t.Errorf("summary of %d characters", utf8.RuneCountInString(summary))
			}
			cd := ev.Payload["custom_details"].(map[string]any)
			detail, _ := cd["detail"].(string)
			original := strings.ToValidUTF8(n.Detail, "\uFFFD")
			if len(original) < 100_000 {
				if detail != original {
					t.Errorf("a small detail was changed")
				}
				return
			}
			if len(ev.Raw) < pagerduty.MaxEventBytes-10_000 && detail != "" {
				t.Errorf("event of %d bytes wastes the room for the detail", len(ev.Raw))
			}
			if !strings.HasPrefix(original, strings.TrimSuffix(detail, "\n[cut]")) {
				t.Error("the detail shown is not a prefix of the detail")
			}
			if int(cd["detail_bytes"].(float64)) != len(original) {
				t.Errorf("detail_bytes %v, want %d", cd["detail_bytes"], len(original))
			}
		})
	}
}

func TestDedupKeyFitsTheLimitAndIsStable(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 400)
	tests := []struct {
		name    string
		driftID string
		want    string
	}{
		{"a_short_drift_id_is_kept", "7f3a", "driftwatch/7f3a"},
		{"a_drift_id_of_244_characters_is_kept", long[:244], "driftwatch/" + long[:244]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pagerduty.DedupKey(tt.driftID); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("a_longer_drift_id_is_hashed_the_same_every_time", func(t *testing.T) {
		t.Parallel()
		a, b := pagerduty.DedupKey(long), pagerduty.DedupKey(long)
		if a != b || len(a) > pagerduty.MaxDedupKey || !strings.HasPrefix(a, "driftwatch/sha256:") || a == pagerduty.DedupKey(long+"y") {
			t.Errorf("keys %q %q", a, b)
		}
	})
}

func TestSeverityMapsToPagerDuty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   drift.Severity
		want string
	}{
		{"critical_is_critical", drift.SeverityCritical, "critical"},
		{"high_is_error", drift.SeverityHigh, "error"},
		{"medium_is_warning", drift.SeverityMedium, "warning"},
		{"low_is_info", drift.SeverityLow, "info"},
		{"unknown_pages_as_error", "bogus", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pagerdutyfake.Start(t)
			n := sample(notify.EventOpened)
			n.Severity = tt.in
			if err := newSender(t, fake.URL()).Send(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			if got := fake.Events()[0].Payload["severity"]; got != tt.want {
				t.Errorf("severity %v, want %s", got, tt.want)
			}
		})
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answer    *pagerdutyfake.Response
		edit      func(*notify.Notification)
		permanent bool
		contains  string
	}{
		{name: "a_400_is_permanent_and_says_why", answer: &pagerdutyfake.Response{Status: 400,
			Body: `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.source' is missing or blank"]}`},
			permanent: true, contains: "payload.source"},
		{name: "a_404_is_permanent", answer: &pagerdutyfake.Response{Status: 404}, permanent: true, contains: "404"},
		{name: "a_redirect_is_permanent", answer: &pagerdutyfake.Response{Status: 301}, permanent: true, contains: "301"},
		{name: "rate_limiting_is_retryable_and_says_when", answer: &pagerdutyfake.Response{Status: 429, RetryAfter: "60"}, contains: "Retry-After 60"},
		{name: "a_500_is_retryable", answer: &pagerdutyfake.Response{Status: 500}, contains: "500"},
		{name: "a_502_is_retryable", answer: &pagerdutyfake.Response{Status: 502}, contains: "502"},
		{name: "an_unknown_event_is_permanent", edit: func(n *notify.Notification) { n.Event = "exploded" }, permanent: true, contains: "unknown event"},
		{name: "a_missing_drift_id_is_permanent", edit: func(n *notify.Notification) { n.DriftID = "" }, permanent: true, contains: "drift id"},
		{name: "a_missing_ci_id_is_permanent", edit: func(n *notify.Notification) { n.CIID = " " }, permanent: true, contains: "CI id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pagerdutyfake.Start(t)
			if tt.answer != nil {
				fake.FailNext(*tt.answer)
			}
			n := sample(notify.EventOpened)
			if tt.edit != nil {
				tt.edit(&n)
			}
			err := newSender(t, fake.URL()).Send(context.Background(), n)
			if err == nil {
				t.Fatal("no error")
			}
			if fault.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent %v, want %v: %v", fault.IsPermanent(err), tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not say %q", err, tt.contains)
			}
			if tt.answer == nil && fake.Requests() != 0 {
				t.Errorf("bad input was sent")
			}
		})
	}
}

func TestSendTreatsNetworkFailuresAsRetryable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/v2/enqueue"
	ln.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(block) })
	for _, tt := range []struct{ name, url string }{
		{"a_refused_connection", refused},
		{"a_timeout", slow.URL + "/v2/enqueue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: tt.url, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), sample(notify.EventOpened)); err == nil || fault.IsPermanent(err) {
				t.Fatalf("error %v, want a retryable one", err)
			}
		})
	}
}

func TestNewReportsEveryConfigProblem(t *testing.T) {
	t.Parallel()
	_, err := pagerduty.New(pagerduty.Config{RoutingKey: "short", URL: "ftp://x", ClientURL: "nope", Timeout: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"routing key", "url", "client url", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if s, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey}); err != nil || s == nil {
		t.Errorf("defaults refused: %v", err)
	}
}
