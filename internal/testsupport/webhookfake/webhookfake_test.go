package webhookfake_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/webhookfake"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

const secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func post(t *testing.T, url string, edit func(*http.Request, []byte), id, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	key, _ := stdwebhook.ParseSecret(secret)
	if err := stdwebhook.SetHeaders(req.Header, [][]byte{key}, id, time.Now(), []byte(body)); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req, []byte(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverVerifiesAndDeduplicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(*http.Request, []byte)
		status int
	}{
		{"a_signed_cloudevent_is_taken", nil, 204},
		{"a_missing_signature_is_refused", func(r *http.Request, _ []byte) { r.Header.Del(stdwebhook.HeaderSignature) }, 401},
		{"another_secrets_signature_is_refused", func(r *http.Request, b []byte) {
			_ = stdwebhook.SetHeaders(r.Header, [][]byte{[]byte("another key")}, "msg_1", time.Now(), b)
		}, 401},
		{"a_stale_timestamp_is_refused", func(r *http.Request, b []byte) {
			key, _ := stdwebhook.ParseSecret(secret)
			_ = stdwebhook.SetHeaders(r.Header, [][]byte{key}, "msg_1", time.Now().Add(-10*time.Minute), b)
		}, 401},
		{"a_changed_id_is_refused", func(r *http.Request, _ []byte) { r.Header.Set(stdwebhook.HeaderID, "msg_2") }, 401},
		{"a_plain_json_body_is_unsupported", func(r *http.Request, _ []byte) { r.Header.Set("Content-Type", "application/json") }, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := webhookfake.Start(t, secret)
			if got := post(t, fake.URL(), tt.edit, "msg_1", `{"id":"1"}`); got != tt.status {
				t.Errorf("status %d, want %d (rejected: %v)", got, tt.status, fake.Rejected())
			}
			if n := len(fake.Deliveries()); (n == 1) != (tt.status == 204) {
				t.Errorf("%d deliveries", n)
			}
		})
	}
	t.Run("a_repeated_id_is_counted_not_recorded", func(t *testing.T) {
		t.Parallel()
		fake := webhookfake.Start(t, secret)
		for range 3 {
			if got := post(t, fake.URL(), nil, "msg_1", `{"id":"1"}`); got != 204 {
				t.Fatalf("status %d", got)
			}
		}
		if len(fake.Deliveries()) != 1 || fake.Duplicates("msg_1") != 2 {
			t.Errorf("%d deliveries, %d duplicates", len(fake.Deliveries()), fake.Duplicates("msg_1"))
		}
	})
	t.Run("a_queued_failure_does_not_mark_the_id_seen", func(t *testing.T) {
		t.Parallel()
		fake := webhookfake.Start(t, secret)
		fake.FailNext(webhookfake.Response{Status: 503})
		first := post(t, fake.URL(), nil, "msg_1", `{"id":"1"}`)
		second := post(t, fake.URL(), nil, "msg_1", `{"id":"1"}`)
		if first != 503 || second != 204 || fake.Duplicates("msg_1") != 0 || len(fake.Deliveries()) != 1 {
			t.Errorf("answers %d %d, %d duplicates", first, second, fake.Duplicates("msg_1"))
		}
	})
}
