package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/auth"
)

func TestNetBoxWebhooks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body, err := netboxfake.WebhookBody("device", "updated", map[string]any{"id": 7, "name": "nb-01"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(token, signature string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/netbox", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if signature != "" {
			req.Header.Set("X-Hook-Signature", signature)
		}
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec
	}
	good := netboxfake.Sign(netboxSecret, body)

	t.Run("takes_a_webhook_signed_with_the_secret_without_a_token", func(t *testing.T) {
		rec := post("", good, body)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("signed webhook: %d %s", rec.Code, rec.Body)
		}
		f.netbox.mu.Lock()
		defer f.netbox.mu.Unlock()
		if n := len(f.netbox.touched); n == 0 || !reflect.DeepEqual(f.netbox.touched[n-1], []string{"nb-01"}) {
			t.Fatalf("touched %v, want nb-01", f.netbox.touched)
		}
	})
	t.Run("refuses_an_unsigned_or_badly_signed_webhook_without_a_token", func(t *testing.T) {
		for name, sig := range map[string]string{"unsigned": "", "signed with another secret": netboxfake.Sign([]byte("other"), body)} {
			if rec := post("", sig, body); rec.Code != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", name, rec.Code)
			}
		}
		other := append(bytes.Clone(body[:len(body)-1]), []byte(`,"x":1}`)...)
		if rec := post("", good, other); rec.Code != http.StatusUnauthorized {
			t.Errorf("a body changed after signing: %d, want 401", rec.Code)
		}
	})
	t.Run("takes_an_operator_token_in_place_of_a_signature_and_checks_one_given", func(t *testing.T) {
		if rec := post(f.secrets[auth.Operator], "", body); rec.Code != http.StatusAccepted {
			t.Fatalf("operator token: %d %s", rec.Code, rec.Body)
		}
		if rec := post(f.secrets[auth.Operator], "00", body); rec.Code != http.StatusForbidden {
			t.Fatalf("operator token with a wrong signature: %d, want 403", rec.Code)
		}
		if rec := post(f.secrets[auth.Viewer], good, body); rec.Code != http.StatusForbidden {
			t.Fatalf("viewer token: %d, want 403", rec.Code)
		}
	})
	t.Run("refuses_a_body_that_is_not_a_netbox_webhook_naming_the_problem", func(t *testing.T) {
		bad := []byte(`{"event":"exploded","model":"device","data":{}}`)
		rec := post("", netboxfake.Sign(netboxSecret, bad), bad)
		if rec.Code != http.StatusBadRequest || !bytes.Contains(rec.Body.Bytes(), []byte("event")) {
			t.Fatalf("bad body: %d %s", rec.Code, rec.Body)
		}
	})
}
