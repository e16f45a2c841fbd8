package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/handlers/notify/slack"
	"github.com/driftwatch/driftwatch/internal/testsupport/slackfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func sample(ev notify.Event) notify.Notification {
	n := notify.Notification{
		Key: "7f3a/" + string(ev), DriftID: "7f3a", Event: ev,
		CIID: "web-01", CIType: "vm", Field: "/power_state",
		Category: drift.CategoryState, Severity: drift.SeverityHigh,
		Summary: `web-01 /power_state: desired "running", actual "stopped"`,
		Desired: json.RawMessage(`"running"`), Actual: json.RawMessage(`"stopped"`),
		Detail:   "--- desired\n+++ actual\n@@ -1 +1 @@\n-running\n+stopped\n",
		PolicyID: "vm-power", Ticket: "INC0012345",
		URL: "https://driftwatch.example/drifts/7f3a?tab=diff&x=1",
		At:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if ev == notify.EventAcknowledged {
		n.By = "alice"
	}
	return n
}

func newSender(t *testing.T, url string) *slack.Sender {
	t.Helper()
	s, err := slack.New(slack.Config{WebhookURL: url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expected is the message Slack must receive for sample(ev).
func expected(ev notify.Event, extraField string) string {
	summary := `web-01 /power_state: desired \"running\", actual \"stopped\"`
	return fmt.Sprintf(`{
	"text": "[driftwatch] [high] Drift %[1]s: web-01 /power_state — %[2]s",
	"blocks": [
		{"type": "header", "text": {"type": "plain_text", "text": "[high] Drift %[1]s: web-01 /power_state"}},
		{"type": "section", "text": {"type": "mrkdwn", "text": "%[2]s"}},
		{"type": "section", "fields": [
			{"type": "mrkdwn", "text": "*CI*\nweb-01 (vm)"},
			{"type": "mrkdwn", "text": "*Field*\n`+"`/power_state`"+`"},
			{"type": "mrkdwn", "text": "*Severity*\nhigh"},
			{"type": "mrkdwn", "text": "*Category*\nstate"},
			{"type": "mrkdwn", "text": "*Desired*\n`+"`\\\"running\\\"`"+`"},
			{"type": "mrkdwn", "text": "*Actual*\n`+"`\\\"stopped\\\"`"+`"},
			{"type": "mrkdwn", "text": "*Policy*\nvm-power"},
			{"type": "mrkdwn", "text": "*Ticket*\nINC0012345"}%[3]s
		]},
		{"type": "section", "text": {"type": "mrkdwn", "text": "`+"```"+`\n--- desired\n+++ actual\n@@ -1 +1 @@\n-running\n+stopped\n`+"```"+`"}},
		{"type": "section", "text": {"type": "mrkdwn", "text": "<https://driftwatch.example/drifts/7f3a?tab=diff&amp;x=1|Open in driftwatch>"}}
	]}`, ev, summary, extraField)
}

func TestSendPostsTheExactMessageForEachEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event notify.Event
		extra string
	}{
		{"an_opened_drift_is_posted", notify.EventOpened, ""},
		{"an_escalated_drift_is_posted", notify.EventEscalated, ""},
		{"an_acknowledged_drift_names_who", notify.EventAcknowledged, `, {"type": "mrkdwn", "text": "*Acknowledged by*\nalice"}`},
		{"a_resolved_drift_is_posted", notify.EventResolved, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slackfake.Start(t)
			if err := newSender(t, fake.URL()).Send(context.Background(), sample(tt.event)); err != nil {
				t.Fatalf("send: %v (fake rejected: %v)", err, fake.Rejected())
			}
			got := fake.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			if len(got[0].Problems) > 0 {
				t.Errorf("problems: %v", got[0].Problems)
			}
			if want := expected(tt.event, tt.extra); !testenv.JSONEqual(t, got[0].Raw, []byte(want)) {
				t.Errorf("payload\n%s\nwant\n%s", got[0].Raw, want)
			}
		})
	}
}

func TestSendEscapesMrkdwn(t *testing.T) {
	t.Parallel()
	fake := slackfake.Start(t)
	n := sample(notify.EventOpened)
	n.CIID = "<!channel> & <@U123>"
	n.Summary = "a<b>&c > d"
	n.Detail = "<script>&amp;</script>\n> quoted"
	n.Desired = json.RawMessage(`"<https://evil.example|click>"`)
	if err := newSender(t, fake.URL()).Send(context.Background(), n); err != nil {
		t.Fatalf("send: %v (%v)", err, fake.Rejected())
	}
	got := fake.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if len(got[0].Problems) > 0 {
		t.Errorf("problems: %v", got[0].Problems)
	}
	fields := got[0].Blocks[2]["fields"].([]any)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"a_mention_in_the_ci_id_is_inert", fields[0].(map[string]any)["text"].(string), "*CI*\n&lt;!channel&gt; &amp; &lt;@U123&gt; (vm)"},
		{"a_link_in_a_value_is_inert", fields[4].(map[string]any)["text"].(string), "*Desired*\n`\"&lt;https://evil.example|click&gt;\"`"},
		{"the_summary_is_escaped", got[0].Blocks[1]["text"].(map[string]any)["text"].(string), "a&lt;b&gt;&amp;c &gt; d"},
		{"an_entity_in_the_detail_is_escaped_again", got[0].Blocks[3]["text"].(map[string]any)["text"].(string), "```\n&lt;script&gt;&amp;amp;&lt;/script&gt;\n&gt; quoted\n```"},
		{"the_plain_text_header_is_left_as_is", got[0].Blocks[0]["text"].(map[string]any)["text"].(string), "[high] Drift opened: <!channel> & <@U123> /power_state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSendCutsOversizedTextToSlackLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*notify.Notification)
	}{
		{"a_detail_of_entities_and_four_byte_runes", func(n *notify.Notification) { n.Detail = strings.Repeat("<é&🙂>", 3000) }},
		{"a_summary_over_the_section_limit", func(n *notify.Notification) { n.Summary = strings.Repeat("ü&", 4000) }},
		{"a_ci_id_over_every_limit", func(n *notify.Notification) { n.CIID = strings.Repeat("web>", 3000) }},
		{"values_over_the_field_limit", func(n *notify.Notification) {
			n.Desired = json.RawMessage(`"` + strings.Repeat("ä<", 3000) + `"`)
			n.Actual = json.RawMessage(`"` + strings.Repeat("🙂", 3000) + `"`)
			n.Field = "/" + strings.Repeat("ß", 3000)
		}},
		{"invalid_utf8_everywhere", func(n *notify.Notification) {
			n.Detail = strings.Repeat("ab\xff", 2000)
			n.CIID = "web\xfe-01"
			n.Summary = strings.Repeat("\xc3", 5000)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slackfake.Start(t)
			n := sample(notify.EventOpened)
			tt.edit(&n)
			if err := newSender(t, fake.URL()).Send(context.Background(), n); err != nil {
				t.Fatalf("send: %v (fake rejected: %v)", err, fake.Rejected())
			}
			got := fake.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			m := got[0]
			if len(m.Problems) > 0 {
				t.Errorf("problems: %v", m.Problems)
			}
			if !utf8.Valid(m.Raw) || strings.Contains(string(m.Raw), `\ufffd`) {
				t.Error("the body is not plain valid UTF-8")
			}
			if c := utf8.RuneCountInString(m.Text); c > slack.FallbackText {
				t.Errorf("text of %d characters", c)
			}
			for _, b := range m.Blocks {
				text, _ := b["text"].(map[string]any)
				if s, _ := text["text"].(string); strings.Contains(s, "…") {
					limit := map[string]int{"header": slack.MaxHeaderText, "section": slack.MaxSectionText}[b["type"].(string)]
					if c := utf8.RuneCountInString(s); c < limit-10 {
						t.Errorf("%s cut to %d characters, limit %d", b["type"], c, limit)
					}
				}
			}
		})
	}
}

func TestSendClassifiesSlackAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answer    slackfake.Response
		permanent bool
		contains  string
	}{
		{"invalid_payload_is_permanent", slackfake.Response{Status: 400, Body: "invalid_payload"}, true, "invalid_payload"},
		{"action_prohibited_is_permanent", slackfake.Response{Status: 403, Body: "action_prohibited"}, true, "action_prohibited"},
		{"no_service_is_permanent", slackfake.Response{Status: 404, Body: "no_service"}, true, "no_service"},
		{"an_archived_channel_is_permanent", slackfake.Response{Status: 410, Body: "channel_is_archived"}, true, "channel_is_archived"},
		{"a_redirect_is_permanent", slackfake.Response{Status: 302}, true, "302"},
		{"rate_limiting_is_retryable_and_says_when", slackfake.Response{Status: 429, Body: "rate_limited", RetryAfter: "30"}, false, "Retry-After 30"},
		{"a_rollup_error_is_retryable", slackfake.Response{Status: 500, Body: "rollup_error"}, false, "rollup_error"},
		{"an_unavailable_slack_is_retryable", slackfake.Response{Status: 503}, false, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slackfake.Start(t)
			fake.FailNext(tt.answer)
			err := newSender(t, fake.URL()).Send(context.Background(), sample(notify.EventOpened))
			if err == nil {
				t.Fatal("no error")
			}
			if fault.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent %v, want %v: %v", fault.IsPermanent(err), tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not say %q", err, tt.contains)
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
	refused := "http://" + ln.Addr().String() + slackfake.Path
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
	tests := []struct {
		name string
		url  string
	}{
		{"a_refused_connection", refused},
		{"a_timeout", slow.URL + slackfake.Path},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := slack.New(slack.Config{WebhookURL: tt.url, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), sample(notify.EventOpened))
			if err == nil || fault.IsPermanent(err) {
				t.Fatalf("error %v, want a retryable one", err)
			}
			if strings.Contains(err.Error(), "fakewebhooksecret") {
				t.Errorf("error %q shows the webhook's secret", err)
			}
		})
	}
}

func TestSendPostsEachKeyOnce(t *testing.T) {
	t.Parallel()
	fake := slackfake.Start(t)
	s := newSender(t, fake.URL())
	n := sample(notify.EventOpened)
	fake.FailNext(slackfake.Response{Status: 503})
	if err := s.Send(context.Background(), n); err == nil {
		t.Fatal("the 503 was not reported")
	}
	for range 3 {
		if err := s.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	other := sample(notify.EventResolved)
	if err := s.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if got := len(fake.Messages()); got != 2 {
		t.Errorf("%d messages, want 2: the retry after the 503 and the other key", got)
	}
	if got := fake.Requests(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

func TestNewReportsEveryConfigProblem(t *testing.T) {
	t.Parallel()
	_, err := slack.New(slack.Config{WebhookURL: "hooks.slack.com/services/secret", Timeout: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"webhook url", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the URL's secret", err)
	}
}
