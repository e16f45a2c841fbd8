package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/handlers/notify/webhook"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/internal/testsupport/webhookfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

const (
	oldSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
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
		URL: "https://driftwatch.example/drifts/7f3a",
		At:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if ev == notify.EventAcknowledged {
		n.By = "alice"
	}
	return n
}

func newSender(t *testing.T, url string, edit func(*webhook.Config)) *webhook.Sender {
	t.Helper()
	cfg := webhook.Config{URL: url, Secrets: []string{oldSecret, newSecret}, Timeout: 2 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cloudEventsSchema compiles the CloudEvents specification's JSON schema, formats asserted.
func cloudEventsSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(testenv.ConformanceFile(t, "cloudevents", "cloudevents.json")))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("cloudevents.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("cloudevents.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, body []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("body is not a valid CloudEvent: %v", err)
	}
}

func expected(ev notify.Event, by string) string {
	r := strings.NewReplacer("EVENT", string(ev), "BY", by)
	return r.Replace(`{
	"specversion": "1.0",
	"id": "7f3a/EVENT",
	"source": "driftwatch",
	"type": "io.driftwatch.notification.EVENT.v1",
	"subject": "web-01",
	"time": "2026-01-02T03:04:05Z",
	"datacontenttype": "application/json",
	"data": {
		"key": "7f3a/EVENT", "drift_id": "7f3a", "event": "EVENT",
		"ci_id": "web-01", "ci_type": "vm", "field": "/power_state",
		"category": "state", "severity": "high", "planned": false,
		"summary": "web-01 /power_state: desired \"running\", actual \"stopped\"",
		"desired": "running", "actual": "stopped",
		"detail": "--- desired\n+++ actual\n@@ -1 +1 @@\n-running\n+stopped\n",
		"policy_id": "vm-power", "ticket": "INC0012345", "by": "BY",
		"url": "https://driftwatch.example/drifts/7f3a", "at": "2026-01-02T03:04:05Z"
	}}`)
}

func TestSendPostsTheExactCloudEventForEachEvent(t *testing.T) {
	t.Parallel()
	sch := cloudEventsSchema(t)
	tests := []struct {
		name  string
		event notify.Event
		by    string
	}{
		{"an_opened_drift_is_posted", notify.EventOpened, ""},
		{"an_escalated_drift_is_posted", notify.EventEscalated, ""},
		{"an_acknowledged_drift_names_who", notify.EventAcknowledged, "alice"},
		{"a_resolved_drift_is_posted", notify.EventResolved, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := webhookfake.Start(t, newSecret)
			n := sample(tt.event)
			if err := newSender(t, fake.URL(), func(c *webhook.Config) { c.Headers = map[string]string{"X-Api-Key": "k1"} }).Send(context.Background(), n); err != nil {
				t.Fatalf("send: %v (rejected: %v)", err, fake.Rejected())
			}
			got := fake.Deliveries()
			if len(got) != 1 {
				t.Fatalf("%d deliveries, want 1", len(got))
			}
			d := got[0]
			validate(t, sch, d.Body)
			if want := expected(tt.event, tt.by); !testenv.JSONEqual(t, d.Body, []byte(want)) {
				t.Errorf("body\n%s\nwant\n%s", d.Body, want)
			}
			if d.ID != n.Key {
				t.Errorf("webhook-id %q, want %q", d.ID, n.Key)
			}
			if ct := d.Header.Get("Content-Type"); ct != webhook.ContentType {
				t.Errorf("Content-Type %q", ct)
			}
			if k := d.Header.Get("X-Api-Key"); k != "k1" {
				t.Errorf("extra header X-Api-Key %q", k)
			}
			ts, err := strconv.ParseInt(d.Timestamp, 10, 64)
			if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
				t.Errorf("webhook-timestamp %q is not now", d.Timestamp)
			}
		})
	}
}

type vector struct {
	Secret    string `json:"secret"`
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// reference signs per the scheme as the conformance data states it, independently of
// stdwebhook.
func reference(t *testing.T, secret, id string, ts int64, payload []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(payload)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestSendSignsWithEveryRotatedSecretPerTheConformanceVectors(t *testing.T) {
	t.Parallel()
	var suite struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(testenv.ConformanceFile(t, "standard-webhooks", "vectors.json"), &suite); err != nil {
		t.Fatal(err)
	}
	for _, v := range suite.Vectors {
		if got := reference(t, v.Secret, v.ID, v.Timestamp, []byte(v.Payload)); got != v.Signature {
			t.Fatalf("the reference gives %s for vector %s, the suite %s", got, v.ID, v.Signature)
		}
	}
	if len(suite.Vectors) < 2 || suite.Vectors[0].Secret == suite.Vectors[1].Secret {
		t.Fatal("the suite lacks two distinct secrets")
	}
	old, cur := suite.Vectors[0].Secret, suite.Vectors[1].Secret
	tests := []struct {
		name     string
		receiver []string
		accepted bool
	}{
		{"a_receiver_with_the_old_secret_accepts", []string{old}, true},
		{"a_receiver_with_the_new_secret_accepts", []string{cur}, true},
		{"a_receiver_with_another_secret_refuses", []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("some other key of enough bytes"))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := webhookfake.Start(t, tt.receiver...)
			s := newSender(t, fake.URL(), func(c *webhook.Config) { c.Secrets = []string{old, cur} })
			err := s.Send(context.Background(), sample(notify.EventOpened))
			if !tt.accepted {
				if !fault.IsPermanent(err) || !strings.Contains(err.Error(), "401") {
					t.Errorf("error %v, want a permanent 401", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := fake.Deliveries()[0]
			ts, _ := strconv.ParseInt(d.Timestamp, 10, 64)
			want := reference(t, old, d.ID, ts, d.Body) + " " + reference(t, cur, d.ID, ts, d.Body)
			if d.Signature != want {
				t.Errorf("webhook-signature %q, want %q", d.Signature, want)
			}
		})
	}
}

func TestSendKeepsTheWebhookIDAcrossRetries(t *testing.T) {
	t.Parallel()
	fake := webhookfake.Start(t, newSecret)
	s := newSender(t, fake.URL(), nil)
	n := sample(notify.EventOpened)
	fake.FailNext(webhookfake.Response{Status: 503})
	if err := s.Send(context.Background(), n); err == nil || fault.IsPermanent(err) {
		t.Fatalf("error %v, want a retryable one", err)
	}
	for range 3 {
		if err := s.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	got := fake.Deliveries()
	if len(got) != 1 || got[0].ID != n.Key {
		t.Fatalf("deliveries %+v, want one with id %s", got, n.Key)
	}
	if d := fake.Duplicates(n.Key); d != 2 {
		t.Errorf("%d duplicates, want 2", d)
	}
	if fake.Requests() != 4 {
		t.Errorf("%d requests, want 4", fake.Requests())
	}
}

func TestSendCutsAnOversizedDetailToMaxBytes(t *testing.T) {
	t.Parallel()
	sch := cloudEventsSchema(t)
	tests := []struct {
		name string
		max  int
		edit func(*notify.Notification)
	}{
		{"a_multibyte_detail_over_the_default", 0, func(n *notify.Notification) { n.Detail = strings.Repeat("é✓🙂x", 40_000) }},
		{"a_detail_of_characters_json_escapes", 8192, func(n *notify.Notification) { n.Detail = strings.Repeat("\"\\\x01\u2028", 5000) }},
		{"an_invalid_utf8_detail", 8192, func(n *notify.Notification) { n.Detail = strings.Repeat("ab\xff", 5000) }},
		{"huge_values_and_detail", 8192, func(n *notify.Notification) {
			n.Detail = strings.Repeat("d", 20_000)
			n.Desired = json.RawMessage(`{"a":"` + strings.Repeat("v", 9000) + `"}`)
			n.Actual = json.RawMessage("not json \xff")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := webhookfake.Start(t, newSecret)
			n := sample(notify.EventOpened)
			tt.edit(&n)
			if err := newSender(t, fake.URL(), func(c *webhook.Config) { c.MaxBytes = tt.max }).Send(context.Background(), n); err != nil {
				t.Fatalf("send: %v (rejected: %v)", err, fake.Rejected())
			}
			body := fake.Deliveries()[0].Body
			limit := tt.max
			if limit == 0 {
				limit = 256 << 10
			}
			if len(body) > limit || !utf8.Valid(body) {
				t.Fatalf("body of %d bytes (limit %d), valid UTF-8 %v", len(body), limit, utf8.Valid(body))
			}
			validate(t, sch, body)
			var ev struct {
				Data struct {
					Detail      string `json:"detail"`
					DetailBytes int    `json:"detail_bytes"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Fatal(err)
			}
			original := strings.ToValidUTF8(n.Detail, "\uFFFD")
			if ev.Data.DetailBytes != len(original) {
				t.Errorf("detail_bytes %d, want %d", ev.Data.DetailBytes, len(original))
			}
			if !strings.HasPrefix(original, strings.TrimSuffix(ev.Data.Detail, "\n[cut]")) {
				t.Error("the detail shown is not a prefix of the detail")
			}
			if ev.Data.Detail != "" && len(body) < limit-1024 {
				t.Errorf("body of %d bytes wastes the %d allowed", len(body), limit)
			}
		})
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answer    *webhookfake.Response
		edit      func(*notify.Notification)
		permanent bool
		contains  string
	}{
		{name: "a_400_is_permanent", answer: &webhookfake.Response{Status: 400, Body: "bad event"}, permanent: true, contains: "bad event"},
		{name: "a_404_is_permanent", answer: &webhookfake.Response{Status: 404}, permanent: true, contains: "404"},
		{name: "a_410_is_permanent", answer: &webhookfake.Response{Status: 410}, permanent: true, contains: "410"},
		{name: "a_redirect_is_permanent", answer: &webhookfake.Response{Status: 307}, permanent: true, contains: "307"},
		{name: "rate_limiting_is_retryable_and_says_when", answer: &webhookfake.Response{Status: 429, RetryAfter: "120"}, contains: "Retry-After 120"},
		{name: "a_500_is_retryable", answer: &webhookfake.Response{Status: 500}, contains: "500"},
		{name: "a_503_is_retryable", answer: &webhookfake.Response{Status: 503}, contains: "503"},
		{name: "an_empty_key_is_permanent", edit: func(n *notify.Notification) { n.Key = "" }, permanent: true, contains: "webhook-id"},
		{name: "a_key_with_crlf_never_becomes_a_header", edit: func(n *notify.Notification) { n.Key = "k\r\nX-Evil: 1" }, permanent: true, contains: "webhook-id"},
		{name: "an_unknown_event_is_permanent", edit: func(n *notify.Notification) { n.Event = "exploded" }, permanent: true, contains: "unknown event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := webhookfake.Start(t, newSecret)
			if tt.answer != nil {
				fake.FailNext(*tt.answer)
			}
			n := sample(notify.EventOpened)
			if tt.edit != nil {
				tt.edit(&n)
			}
			err := newSender(t, fake.URL(), nil).Send(context.Background(), n)
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
				t.Error("bad input was sent")
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
	refused := "http://" + ln.Addr().String() + "/hook"
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
		{"a_timeout", slow.URL + "/hook"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSender(t, tt.url, func(c *webhook.Config) { c.Timeout = 200 * time.Millisecond })
			if err := s.Send(context.Background(), sample(notify.EventOpened)); err == nil || fault.IsPermanent(err) {
				t.Fatalf("error %v, want a retryable one", err)
			}
		})
	}
}

func TestNewReportsEveryConfigProblem(t *testing.T) {
	t.Parallel()
	_, err := webhook.New(webhook.Config{
		URL: "example.com/hook", Secrets: []string{newSecret, "whsec_not base64!"},
		Headers:  map[string]string{"Webhook-Signature": "x", "Bad Name": "v", "X-Ok": "a\r\nb"},
		MaxBytes: 100, Timeout: -1,
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"url", "secrets[1]", "Webhook-Signature is set by the sender", `"Bad Name"`, "X-Ok", "max bytes", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "not base64!") {
		t.Errorf("error %q shows a secret", err)
	}
	if _, err := webhook.New(webhook.Config{URL: "https://example.com/hook"}); err == nil || !strings.Contains(err.Error(), "at least one") {
		t.Errorf("no secret: %v", err)
	}
}

func TestTheSchemaCheckRefusesBrokenEvents(t *testing.T) {
	t.Parallel()
	sch := cloudEventsSchema(t)
	tests := []struct {
		name string
		body string
	}{
		{"an_empty_id", `{"specversion":"1.0","id":"","source":"driftwatch","type":"t"}`},
		{"a_time_that_is_no_date_time", `{"specversion":"1.0","id":"i","source":"driftwatch","type":"t","time":"yesterday"}`},
		{"a_missing_source", `{"specversion":"1.0","id":"i","type":"t"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if sch.Validate(inst) == nil {
				t.Error("the schema accepted it")
			}
		})
	}
}
