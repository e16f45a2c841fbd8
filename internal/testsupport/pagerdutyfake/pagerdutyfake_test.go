package pagerdutyfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/pagerdutyfake"
)

const key = "0123456789abcdef0123456789abcdef"

func TestEnqueueValidatesEventsAsDocumented(t *testing.T) {
	t.Parallel()
	payload := `"payload":{"summary":"s","source":"web-01","severity":"error"}`
	tests := []struct {
		name   string
		body   string
		status int
		error  string
	}{
		{"a_minimal_trigger_is_accepted", `{"routing_key":"` + key + `","event_action":"trigger",` + payload + `}`, 202, ""},
		{"a_full_trigger_is_accepted", `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"d","client":"c","client_url":"https://c","links":[{"href":"https://x"}],"images":[{"src":"https://i"}],"payload":{"summary":"s","source":"web-01","severity":"info","timestamp":"2026-01-02T03:04:05Z","component":"c","group":"g","class":"k","custom_details":{"a":1}}}`, 202, ""},
		{"an_acknowledge_with_a_dedup_key_is_accepted", `{"routing_key":"` + key + `","event_action":"acknowledge","dedup_key":"d"}`, 202, ""},
		{"a_short_routing_key_is_refused", `{"routing_key":"abc","event_action":"trigger",` + payload + `}`, 400, "routing_key"},
		{"an_unknown_action_is_refused", `{"routing_key":"` + key + `","event_action":"explode",` + payload + `}`, 400, "event_action"},
		{"a_resolve_without_dedup_key_is_refused", `{"routing_key":"` + key + `","event_action":"resolve"}`, 400, "dedup_key"},
		{"a_dedup_key_of_256_characters_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"` + strings.Repeat("d", 256) + `",` + payload + `}`, 400, "dedup_key"},
		{"a_trigger_without_payload_is_refused", `{"routing_key":"` + key + `","event_action":"trigger"}`, 400, "payload"},
		{"a_blank_source_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":" ","severity":"error"}}`, 400, "source"},
		{"a_bad_severity_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"high"}}`, 400, "severity"},
		{"a_summary_of_1025_characters_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"` + strings.Repeat("é", 1025) + `","source":"x","severity":"info"}}`, 400, "summary"},
		{"a_summary_of_1024_characters_is_accepted", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"` + strings.Repeat("é", 1024) + `","source":"x","severity":"info"}}`, 202, ""},
		{"a_bad_timestamp_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info","timestamp":"yesterday"}}`, 400, "timestamp"},
		{"an_unknown_field_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","severity":"info",` + payload + `}`, 400, "Unknown field"},
		{"an_event_over_512_kb_is_refused", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info","custom_details":{"d":"` + strings.Repeat("x", 512_000) + `"}}}`, 400, "too large"},
		{"broken_json_is_refused", `{"routing_key":`, 400, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pagerdutyfake.Start(t)
			resp, err := http.Post(fake.URL(), "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var got struct {
				Status   string   `json:"status"`
				Message  string   `json:"message"`
				DedupKey string   `json:"dedup_key"`
				Errors   []string `json:"errors"`
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("answer %q: %v", raw, err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			if tt.status == 202 {
				if got.Status != "success" || got.Message != "Event processed" || got.DedupKey == "" {
					t.Errorf("answer %s", raw)
				}
				return
			}
			if got.Status != "invalid event" || !strings.Contains(strings.Join(got.Errors, ";"), tt.error) {
				t.Errorf("answer %s, want an error about %s", raw, tt.error)
			}
			if len(fake.Events()) != 0 {
				t.Error("a refused event was recorded")
			}
		})
	}
}

func TestAlertsFollowPagerDutysDeduplication(t *testing.T) {
	t.Parallel()
	fake := pagerdutyfake.Start(t)
	post := func(action string) {
		t.Helper()
		body := `{"routing_key":"` + key + `","event_action":"` + action + `","dedup_key":"d"`
		if action == "trigger" {
			body += `,"payload":{"summary":"s","source":"x","severity":"info"}`
		}
		resp, err := http.Post(fake.URL(), "application/json", strings.NewReader(body+"}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("%s: status %d", action, resp.StatusCode)
		}
	}
	steps := []struct {
		action string
		want   pagerdutyfake.Alert
	}{
		{"acknowledge", pagerdutyfake.Alert{Dropped: 1}},
		{"trigger", pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 1, Triggers: 1, Dropped: 1}},
		{"trigger", pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 1, Triggers: 2, Dropped: 1}},
		{"acknowledge", pagerdutyfake.Alert{Status: pagerdutyfake.StatusAcknowledged, Alerts: 1, Triggers: 2, Acknowledges: 1, Dropped: 1}},
		{"trigger", pagerdutyfake.Alert{Status: pagerdutyfake.StatusAcknowledged, Alerts: 1, Triggers: 3, Acknowledges: 1, Dropped: 1}},
		{"resolve", pagerdutyfake.Alert{Status: pagerdutyfake.StatusResolved, Alerts: 1, Triggers: 3, Acknowledges: 1, Resolves: 1, Dropped: 1}},
		{"trigger", pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 2, Triggers: 4, Acknowledges: 1, Resolves: 1, Dropped: 1}},
	}
	for i, st := range steps {
		post(st.action)
		if got := fake.Alert("d"); got != st.want {
			t.Errorf("after step %d (%s): %+v, want %+v", i, st.action, got, st.want)
		}
	}
}
