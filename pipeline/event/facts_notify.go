package event

import "time"

// Outcomes of a notification.
const (
	// NotificationOutcomeSent: the receiver accepted it.
	NotificationOutcomeSent = "sent"
	// NotificationOutcomeSkipped: it was decided not to send it (a planned drift to a pager, a
	// drift resolved before its opening was told); Reason says why.
	NotificationOutcomeSkipped = "skipped"
	// NotificationOutcomeFailed: the receiver refused it for good (a 4xx, a 5xx SMTP reply);
	// Reason says why. It is not tried again.
	NotificationOutcomeFailed = "failed"
)

// NotificationSent_v1 records what became of one notification: one event of a drift (opened,
// escalated, acknowledged, resolved) to one receiver. Key is its stable id (see
// NotificationKey), and the record's own id: a redelivered lifecycle fact finds it and sends
// nothing again. Facts live in the stream of their drift (subject the drift id).
type NotificationSent_v1 struct {
	Key      string `json:"key"`
	DriftID  string `json:"drift_id"`
	CIID     string `json:"ci_id"`
	Event    string `json:"event"`
	Receiver string `json:"receiver"`
	// Kind is the receiver's kind: email, slack, pagerduty or webhook.
	Kind    string    `json:"kind"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// FactType implements Fact.
func (NotificationSent_v1) FactType() string { return TypeNotificationSent }

// NotificationKey is the stable id of the notification of event about a drift to a receiver.
func NotificationKey(driftID, event, receiver string) string {
	return DeriveID("notification", driftID, event, receiver)
}
