package action

import (
	"context"
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// TicketKind is the kind of ITSM record a drift gets.
type TicketKind string

// Ticket kinds, after ServiceNow's tables.
const (
	// TicketChangeRequest is the change request SPEC-080 opens for a drift
	// (auto_change_request, or the card's manual_review).
	TicketChangeRequest TicketKind = "change_request"
	// TicketIncident is opened when a drift escalates: still drifted after remediation.
	TicketIncident TicketKind = "incident"
)

// TicketRequest asks for the ticket of one drift.
type TicketRequest struct {
	// CorrelationID is stable per drift and kind: a create that is retried after a timeout
	// finds the ticket it may have opened by this id instead of opening a second one.
	CorrelationID string
	Kind          TicketKind
	DriftID       string
	CIID          string
	CIType        string
	Field         string
	Category      drift.Category
	Severity      drift.Severity
	// ShortDescription is one line; Description the whole story (desired, actual, detail,
	// policy), both already redacted.
	ShortDescription string
	Description      string
	Desired          json.RawMessage
	Actual           json.RawMessage
	PolicyID         string
	// Related is the number of a ticket this one follows up (an incident's change request).
	Related string
	At      time.Time
}

// Ticket is an ITSM record as the service knows it.
type Ticket struct {
	Kind TicketKind
	// ID is the service's own key (ServiceNow's sys_id).
	ID string
	// Number is what people quote (CHG0030001, INC0010001); it is stored on the drift.
	Number string
	// URL links to the ticket, when the service gives one.
	URL string
	// Created is false when Open found an existing ticket by correlation id.
	Created bool
}

// TicketUpdate adds a work note to an open ticket (an escalation, a remediation's outcome).
type TicketUpdate struct {
	Note string
	// Severity, when set, raises the ticket's urgency and impact.
	Severity drift.Severity
	At       time.Time
}

// TicketClose closes a ticket when its drift resolves.
type TicketClose struct {
	// Code is the close code ("successful" for a change request, "Resolved by ..." style
	// codes for an incident; each adapter maps it to what its service accepts).
	Code  string
	Notes string
	At    time.Time
}

// Tickets is an ITSM system. Every method is idempotent: Open finds the ticket of a
// correlation id again instead of opening a second one, Update and Close of a closed ticket
// change nothing. Errors retrying can fix (5xx, 429, timeouts) are returned as they are;
// others (4xx, a refused payload) are marked fault.Permanent. Safe for concurrent use.
type Tickets interface {
	Open(ctx context.Context, r TicketRequest) (Ticket, error)
	Update(ctx context.Context, t Ticket, u TicketUpdate) error
	Close(ctx context.Context, t Ticket, c TicketClose) error
}
