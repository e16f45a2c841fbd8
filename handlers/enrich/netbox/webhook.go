package netbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// SignatureHeader is the header in which NetBox signs a webhook's body.
const SignatureHeader = "X-Hook-Signature"

// VerifySignature checks header, the value of X-Hook-Signature, against body: NetBox sends
// the hex HMAC-SHA512 of the raw body under the webhook's secret. The comparison is in
// constant time. Errors are fault.Permanent and say what is wrong: the secret or the header
// missing, the header not hex or not 64 bytes, or a mismatch.
func VerifySignature(secret []byte, body []byte, header string) error {
	if len(secret) == 0 {
		return fault.Permanent(errors.New("verify netbox webhook: secret: required"))
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return fault.Permanent(fmt.Errorf("verify netbox webhook: %s: missing", SignatureHeader))
	}
	got, err := hex.DecodeString(header)
	if err != nil {
		return fault.Permanent(fmt.Errorf("verify netbox webhook: %s: not hex: %w", SignatureHeader, err))
	}
	if len(got) != sha512.Size {
		return fault.Permanent(fmt.Errorf("verify netbox webhook: %s: %d bytes, an HMAC-SHA512 has %d", SignatureHeader, len(got), sha512.Size))
	}
	m := hmac.New(sha512.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fault.Permanent(fmt.Errorf("verify netbox webhook: %s: does not match the body (another secret, or the body was changed)", SignatureHeader))
	}
	return nil
}

// Webhook is the body NetBox posts for an event rule whose action is a webhook without a
// body template.
type Webhook struct {
	// Event is "created", "updated" or "deleted".
	Event string
	// Timestamp is when NetBox sent it.
	Timestamp time.Time
	// Model is the model name ("device", "virtualmachine", "interface", "configcontext").
	Model string
	// Username is the user who made the change.
	Username string
	// RequestID is the request that made the change; the change log has it too.
	RequestID string
	// Data is the object as the REST API shows it (for a deletion, as it was).
	Data json.RawMessage
	// Prechange and Postchange are the object's serialized snapshots, null when absent.
	Prechange, Postchange json.RawMessage
	// Touched is what the change reaches (see Touched).
	Touched Touched
}

var webhookEvents = map[string]bool{"created": true, "updated": true, "deleted": true}

// ParseWebhook decodes a NetBox webhook body and works out what it touches. It is strict:
// a body that is not a JSON object, a missing or unknown event, a missing model, a bad
// timestamp or data or snapshots that are not objects are errors naming the problem, marked
// fault.Permanent.
func ParseWebhook(body []byte) (Webhook, error) {
	w, err := parseWebhook(body)
	if err != nil {
		return Webhook{}, fault.Permanent(fmt.Errorf("parse netbox webhook: %w", err))
	}
	return w, nil
}

func parseWebhook(body []byte) (Webhook, error) {
	var raw struct {
		Event     *string         `json:"event"`
		Timestamp string          `json:"timestamp"`
		Model     *string         `json:"model"`
		Username  string          `json:"username"`
		RequestID string          `json:"request_id"`
		Data      json.RawMessage `json:"data"`
		Snapshots json.RawMessage `json:"snapshots"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Webhook{}, fmt.Errorf("body: not a JSON object: %w", err)
	}
	if dec.More() {
		return Webhook{}, errors.New("body: trailing data after the JSON object")
	}
	var errs []error
	switch {
	case raw.Event == nil || *raw.Event == "":
		errs = append(errs, errors.New("event: missing"))
	case !webhookEvents[*raw.Event]:
		errs = append(errs, fmt.Errorf("event: %q is not created, updated or deleted", *raw.Event))
	}
	if raw.Model == nil || *raw.Model == "" {
		errs = append(errs, errors.New("model: missing"))
	}
	w := Webhook{Username: raw.Username, RequestID: raw.RequestID, Data: raw.Data}
	if raw.Event != nil {
		w.Event = *raw.Event
	}
	if raw.Model != nil {
		w.Model = *raw.Model
	}
	if raw.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, strings.Replace(raw.Timestamp, " ", "T", 1))
		if err != nil {
			errs = append(errs, fmt.Errorf("timestamp: %q is not an ISO 8601 time: %w", raw.Timestamp, err))
		}
		w.Timestamp = ts
	}
	data, dataErr := objectOrNull(raw.Data)
	if dataErr != nil {
		errs = append(errs, fmt.Errorf("data: %w", dataErr))
	}
	var snaps struct {
		Prechange  json.RawMessage `json:"prechange"`
		Postchange json.RawMessage `json:"postchange"`
	}
	var pre, post map[string]any
	if s, err := objectOrNull(raw.Snapshots); err != nil {
		errs = append(errs, fmt.Errorf("snapshots: %w", err))
	} else if s != nil {
		_ = json.Unmarshal(raw.Snapshots, &snaps)
		var perr error
		if pre, perr = objectOrNull(snaps.Prechange); perr != nil {
			errs = append(errs, fmt.Errorf("snapshots.prechange: %w", perr))
		}
		if post, perr = objectOrNull(snaps.Postchange); perr != nil {
			errs = append(errs, fmt.Errorf("snapshots.postchange: %w", perr))
		}
	}
	w.Prechange, w.Postchange = nullIfEmpty(snaps.Prechange), nullIfEmpty(snaps.Postchange)
	if data == nil && dataErr == nil && namesObjects(w.Model) {
		errs = append(errs, fmt.Errorf("data: missing; a %s webhook names its object there", w.Model))
	}
	if err := errors.Join(errs...); err != nil {
		return Webhook{}, err
	}
	t := touches(w.Model, data, pre, post)
	w.Touched = t.Touched
	// A parent given by id only (an interface moved from another device) cannot be named
	// without asking NetBox, so everything is touched.
	for _, p := range t.parents {
		if !t.named[p] {
			w.Touched.All = true
		}
	}
	return w, nil
}

// objectOrNull decodes raw as a JSON object, keeping numbers as written; absent or null is
// nil.
func objectOrNull(raw json.RawMessage) (map[string]any, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	switch m := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	}
	return nil, fmt.Errorf("must be a JSON object or null, got %s", kindOf(v))
}

func nullIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("null")
	}
	return raw
}
