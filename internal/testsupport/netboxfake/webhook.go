package netboxfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// SendWebhook posts a webhook to url as a NetBox event rule does: a JSON body with event,
// timestamp, model, username, request_id, data and snapshots, Content-Type
// application/json, and, when secret is set, X-Hook-Signature, the hex HMAC-SHA512 of the
// body under secret. obj is the webhook's data; when it is a Change (see Server.Changes),
// its Object is the data and its snapshots, request id and time are sent. It returns an
// error unless the receiver answers 2xx.
func SendWebhook(url string, secret []byte, model, event string, obj any) error {
	body, err := WebhookBody(model, event, obj)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("netboxfake: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if len(secret) > 0 {
		req.Header.Set("X-Hook-Signature", Sign(secret, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("netboxfake: post webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("netboxfake: webhook answered %s: %s", resp.Status, answer)
	}
	return nil
}

// Sign is the X-Hook-Signature NetBox sends with body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha512.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// WebhookBody is the body SendWebhook posts.
func WebhookBody(model, event string, obj any) ([]byte, error) {
	body := map[string]any{
		"event":      event,
		"timestamp":  time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		"model":      model,
		"username":   "admin",
		"request_id": uuid.NewString(),
		"data":       obj,
		"snapshots":  map[string]any{"prechange": nil, "postchange": nil},
	}
	if c, ok := obj.(Change); ok {
		body["timestamp"] = c.Time.UTC().Format("2006-01-02T15:04:05.000000+00:00")
		body["request_id"] = c.RequestID
		body["data"] = c.Object
		body["snapshots"] = map[string]any{"prechange": nilIfEmpty(c.Prechange), "postchange": nilIfEmpty(c.Postchange)}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("netboxfake: encode webhook: %w", err)
	}
	return b, nil
}

func nilIfEmpty(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}
