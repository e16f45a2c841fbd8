package pagerduty

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
)

// Event actions of the Events API v2.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

type event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []link   `json:"links,omitempty"`
}

type payload struct {
	Summary       string   `json:"summary"`
	Source        string   `json:"source"`
	Severity      string   `json:"severity"`
	Timestamp     string   `json:"timestamp,omitempty"`
	Component     string   `json:"component,omitempty"`
	Group         string   `json:"group,omitempty"`
	Class         string   `json:"class,omitempty"`
	CustomDetails *details `json:"custom_details"`
}

type details struct {
	DriftID  string          `json:"drift_id"`
	Event    string          `json:"event"`
	CIID     string          `json:"ci_id"`
	CIType   string          `json:"ci_type,omitempty"`
	Field    string          `json:"field"`
	Category string          `json:"category,omitempty"`
	Severity string          `json:"severity,omitempty"`
	Planned  bool            `json:"planned"`
	Desired  json.RawMessage `json:"desired"`
	Actual   json.RawMessage `json:"actual"`
	PolicyID string          `json:"policy_id,omitempty"`
	Ticket   string          `json:"ticket,omitempty"`
	URL      string          `json:"url,omitempty"`
	Detail   string          `json:"detail,omitempty"`
	// DetailBytes is the length of the detail before it was cut; absent when it was not.
	DetailBytes int `json:"detail_bytes,omitempty"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Action is the event action for a notification event, "" for an unknown one.
func Action(e notify.Event) string {
	switch e {
	case notify.EventOpened, notify.EventEscalated:
		return ActionTrigger
	case notify.EventAcknowledged:
		return ActionAcknowledge
	case notify.EventResolved:
		return ActionResolve
	}
	return ""
}

// encode builds the event's JSON, cut to MaxEventBytes.
func (s *Sender) encode(n notify.Notification) ([]byte, error) {
	action := Action(n.Event)
	if action == "" {
		return nil, fmt.Errorf("unknown event %q", n.Event)
	}
	if n.DriftID == "" {
		return nil, errors.New("notification has no drift id")
	}
	ev := event{RoutingKey: s.cfg.RoutingKey, EventAction: action, DedupKey: DedupKey(n.DriftID)}
	if action != ActionTrigger {
		return marshal(ev)
	}
	if strings.TrimSpace(n.CIID) == "" {
		return nil, errors.New("notification has no CI id for the source")
	}
	ev.Client, ev.ClientURL = s.cfg.Client, s.cfg.ClientURL
	if strings.HasPrefix(n.URL, "https://") || strings.HasPrefix(n.URL, "http://") {
		ev.Links = []link{{Href: n.URL, Text: "Drift in driftwatch"}}
	}
	summary := oneLine(n.Summary)
	if strings.TrimSpace(summary) == "" {
		summary = oneLine(fmt.Sprintf("%s %s drifted", n.CIID, n.Field))
	}
	if n.Event == notify.EventEscalated {
		summary = "[escalated] " + summary
	}
	d := &details{
		DriftID: n.DriftID, Event: string(n.Event), CIID: n.CIID, CIType: n.CIType, Field: n.Field,
		Category: string(n.Category), Severity: string(n.Severity), Planned: n.Planned,
		Desired: jsonValue(n.Desired), Actual: jsonValue(n.Actual),
		PolicyID: n.PolicyID, Ticket: n.Ticket, URL: n.URL,
		Detail: strings.ToValidUTF8(n.Detail, "\uFFFD"),
	}
	ev.Payload = &payload{
		Summary:  cutRunes(summary, MaxSummary),
		Source:   n.CIID,
		Severity: Severity(n.Severity),
		Group:    n.CIType, Component: n.Field, Class: string(n.Category),
		CustomDetails: d,
	}
	if !n.At.IsZero() {
		ev.Payload.Timestamp = n.At.UTC().Format(time.RFC3339Nano)
	}
	b, err := marshal(ev)
	if err != nil || len(b) <= MaxEventBytes {
		return b, err
	}
	// Cutting k bytes of the detail shortens its JSON by at least k bytes, so a cut by the
	// excess and a margin for the note fits in one pass; the loop only guards the arithmetic.
	full := d.Detail
	for range 4 {
		keep := len(d.Detail) - (len(b) - MaxEventBytes) - 64
		if keep <= 0 {
			d.Detail = ""
		} else {
			d.Detail = cutBytes(full, keep) + "\n[cut]"
		}
		d.DetailBytes = len(full)
		if b, err = marshal(ev); err != nil || len(b) <= MaxEventBytes {
			return b, err
		}
		if d.Detail == "" {
			break
		}
	}
	d.Desired = cutValue(d.Desired)
	d.Actual = cutValue(d.Actual)
	if b, err = marshal(ev); err != nil || len(b) <= MaxEventBytes {
		return b, err
	}
	return nil, fmt.Errorf("event of %d bytes exceeds %d even without its detail", len(b), MaxEventBytes)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode pagerduty event: %w", err)
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

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
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

// cutRunes returns s cut to at most n runes, the last one an ellipsis when it was cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
