// Package notify is the alerting stage: it turns drift lifecycle facts (opened, escalated,
// acknowledged, resolved) into notifications, routes them by severity and category to the
// configured destinations, and sends each once. Senders for outside services live in
// sub-packages: smtp (e-mail), slack (incoming webhooks), pagerduty (Events API v2) and
// webhook (a generic webhook signed per Standard Webhooks).
package notify

import (
	"context"
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Event is what happened to a drift that a notification tells.
type Event string

// Notification events, in the order a drift may go through them.
const (
	// EventOpened: a drift was detected.
	EventOpened Event = "opened"
	// EventEscalated: a drift is still there after its remediation: an incident.
	EventEscalated Event = "escalated"
	// EventAcknowledged: a person acknowledged the drift.
	EventAcknowledged Event = "acknowledged"
	// EventResolved: the drift's field matches its desired state again.
	EventResolved Event = "resolved"
)

// Valid reports whether e is a known event.
func (e Event) Valid() bool {
	switch e {
	case EventOpened, EventEscalated, EventAcknowledged, EventResolved:
		return true
	}
	return false
}

// Notification is one message about one drift. Senders render it in their service's format
// and must cut it to that service's documented limits.
type Notification struct {
	// Key is stable for one drift and event: every retry and redelivery of the same
	// notification carries the same key, and receivers that deduplicate (a webhook-id, an
	// e-mail Message-ID) get it.
	Key string
	// DriftID identifies the drift; PagerDuty's dedup_key derives from it alone, so that
	// trigger, acknowledge and resolve address one alert.
	DriftID string
	Event   Event
	CIID    string
	CIType  string
	// Field is the drifted field as a JSON pointer ("" for the whole CI).
	Field    string
	Category drift.Category
	Severity drift.Severity
	// Planned is true for a drift explained by an approved change or a remediation in
	// progress; planned drifts never page.
	Planned bool
	// Summary is one line for people ("web-01 /power_state: desired \"running\", actual
	// \"stopped\"").
	Summary string
	// Desired and Actual are the field's values (JSON; null when absent).
	Desired json.RawMessage
	Actual  json.RawMessage
	// Detail is the redacted evidence (a unified diff), possibly long.
	Detail   string
	PolicyID string
	// Ticket is the ITSM ticket number of the drift, when one was opened.
	Ticket string
	// By is who acknowledged (EventAcknowledged).
	By string
	// URL links to the drift in the dashboard, when the server knows its public address.
	URL string
	At  time.Time
}

// Sender delivers notifications to one configured destination. Send is idempotent on
// Notification.Key where the service allows it. Errors that retrying can fix (a 5xx or 429
// answer, a timeout, a refused connection) are returned as they are; errors it cannot fix
// (a 4xx answer, a payload the service refuses) are marked fault.Permanent. Safe for
// concurrent use.
type Sender interface {
	Send(ctx context.Context, n Notification) error
}
