package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
)

// Source is the CloudEvents source of every notification.
const Source = "driftwatch"

// Type is the CloudEvents type of a notification about e.
func Type(e notify.Event) string { return "io.driftwatch.notification." + string(e) + ".v1" }

type cloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject,omitempty"`
	Time            string `json:"time,omitempty"`
	DataContentType string `json:"datacontenttype"`
	Data            *data  `json:"data"`
}

// data is the notification with snake_case keys.
type data struct {
	Key      string          `json:"key"`
	DriftID  string          `json:"drift_id"`
	Event    string          `json:"event"`
	CIID     string          `json:"ci_id"`
	CIType   string          `json:"ci_type"`
	Field    string          `json:"field"`
	Category string          `json:"category"`
	Severity string          `json:"severity"`
	Planned  bool            `json:"planned"`
	Summary  string          `json:"summary"`
	Desired  json.RawMessage `json:"desired"`
	Actual   json.RawMessage `json:"actual"`
	Detail   string          `json:"detail"`
	// DetailBytes is the length of the detail before it was cut; absent when it was not.
	DetailBytes int    `json:"detail_bytes,omitempty"`
	PolicyID    string `json:"policy_id"`
	Ticket      string `json:"ticket"`
	By          string `json:"by"`
	URL         string `json:"url"`
	At          string `json:"at,omitempty"`
}

// Encode returns the CloudEvent for n, at most maxBytes long: data.detail is cut first (on a
// UTF-8 boundary), then large desired and actual values are replaced by a note of their size.
// It refuses an unknown event and a notification that does not fit even so.
func Encode(n notify.Notification, maxBytes int) ([]byte, error) {
	if !n.Event.Valid() {
		return nil, fmt.Errorf("unknown event %q", n.Event)
	}
	d := &data{
		Key: n.Key, DriftID: n.DriftID, Event: string(n.Event), CIID: n.CIID, CIType: n.CIType,
		Field: n.Field, Category: string(n.Category), Severity: string(n.Severity), Planned: n.Planned,
		Summary: n.Summary, Desired: jsonValue(n.Desired), Actual: jsonValue(n.Actual),
		Detail: strings.ToValidUTF8(n.Detail, "\uFFFD"), PolicyID: n.PolicyID, Ticket: n.Ticket, By: n.By, URL: n.URL,
	}
	ev := cloudEvent{
		SpecVersion: "1.0", ID: n.Key, Source: Source, Type: Type(n.Event), Subject: n.CIID,
		DataContentType: "application/json", Data: d,
	}
	if !n.At.IsZero() {
		ev.Time = n.At.UTC().Format(time.RFC3339Nano)
		d.At = ev.Time
	}
	b, err := marshal(ev)
	if err != nil || len(b) <= maxBytes {
		return b, err
	}
	// Cutting k bytes of the detail shortens its JSON by at least k bytes.
	full := d.Detail
	for range 4 {
		keep := len(d.Detail) - (len(b) - maxBytes) - 64
		if keep <= 0 {
			d.Detail = ""
		} else {
			d.Detail = cutBytes(full, keep) + "\n[cut]"
		}
		d.DetailBytes = len(full)
		if b, err = marshal(ev); err != nil || len(b) <= maxBytes {
			return b, err
		}
		if d.Detail == "" {
			break
		}
	}
	d.Desired, d.Actual = cutValue(d.Desired), cutValue(d.Actual)
	if b, err = marshal(ev); err != nil || len(b) <= maxBytes {
		return b, err
	}
	return nil, fmt.Errorf("event of %d bytes exceeds %d even without its detail", len(b), maxBytes)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode cloudevent: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jsonValue is raw when it is JSON, null when empty, and raw as a JSON string otherwise.
func jsonValue(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(raw) {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.Bytes()
		}
	}
	s, _ := json.Marshal(strings.ToValidUTF8(string(raw), "\uFFFD"))
	return s
}

// cutValue replaces a large value by a note of its size.
func cutValue(v json.RawMessage) json.RawMessage {
	if len(v) <= 1024 {
		return v
	}
	s, _ := json.Marshal(fmt.Sprintf("[cut: %d bytes of JSON]", len(v)))
	return s
}

// cutBytes returns the longest prefix of s of at most n bytes that ends on a rune boundary.
func cutBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
