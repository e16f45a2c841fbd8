package ticketwebhook

import (
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Actions a Message asks for.
const (
	ActionOpen   = "open"
	ActionUpdate = "update"
	ActionClose  = "close"
)

// HeaderIdempotencyKey is the header a receiver deduplicates on.
const HeaderIdempotencyKey = "Idempotency-Key"

// Message is the JSON body of every webhook; which fields are set depends on Action.
type Message struct {
	Action string `json:"action"`
	// Kind is the ticket's kind: change_request, or incident for an escalation.
	Kind action.TicketKind `json:"kind"`

	// Open: the drift's ticket request.
	CorrelationID    string          `json:"correlation_id,omitempty"`
	DriftID          string          `json:"drift_id,omitempty"`
	CIID             string          `json:"ci_id,omitempty"`
	CIType           string          `json:"ci_type,omitempty"`
	Field            string          `json:"field,omitempty"`
	Category         drift.Category  `json:"category,omitempty"`
	ShortDescription string          `json:"short_description,omitempty"`
	Description      string          `json:"description,omitempty"`
	Desired          json.RawMessage `json:"desired,omitempty"`
	Actual           json.RawMessage `json:"actual,omitempty"`
	PolicyID         string          `json:"policy_id,omitempty"`
	// Related is the number of the ticket this one follows up (an incident's change request).
	Related string `json:"related,omitempty"`

	// Update and close: the ticket, by the receiver's id and number.
	ID     string `json:"id,omitempty"`
	Number string `json:"number,omitempty"`
	// Note is an update's work note.
	Note string `json:"note,omitempty"`
	// Code and Notes close a ticket.
	Code  string `json:"code,omitempty"`
	Notes string `json:"notes,omitempty"`

	// Severity is an open's severity, or the one an update raises the ticket to.
	Severity drift.Severity `json:"severity,omitempty"`
	// At is when it happened in driftwatch (not when it was sent).
	At time.Time `json:"at,omitzero"`
}

// Answer is the body a receiver answers an open with.
type Answer struct {
	ID     string `json:"id"`
	Number string `json:"number,omitempty"`
	URL    string `json:"url,omitempty"`
}
