package event

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// ActionRequested_v1 asks for one remediation action on a CI: the action stage asks for it
// per the policy of a drift, a person through the API. ActionID is stable (see ActionID):
// asking again for the same action on the same drift is the same request, and an action that
// succeeded once is not performed again.
type ActionRequested_v1 struct {
	ActionID string           `json:"action_id"`
	Kind     drift.ActionKind `json:"kind"`
	CIID     string           `json:"ci_id"`
	CIType   string           `json:"ci_type,omitempty"`
	// DriftID is the drift the action answers.
	DriftID string `json:"drift_id,omitempty"`
	// PolicyID and ActionType say which policy asked for it; empty for a person's request.
	PolicyID   string           `json:"policy_id,omitempty"`
	ActionType drift.ActionType `json:"action_type,omitempty"`
	// Field and Desired are the drift's field and desired value (auto_correct works from them).
	Field   string          `json:"field,omitempty"`
	Desired json.RawMessage `json:"desired,omitempty"`
	// RequestedBy is "policy" or the person who asked.
	RequestedBy string    `json:"requested_by"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	// Target names what a playbook or script action runs: the playbook's or script's id.
	Target string `json:"target,omitempty"`
	// Attempt numbers the remediation attempts of one drift from 1; 0 for other actions.
	Attempt int `json:"attempt,omitempty"`
	// Ticket is, for a ticket update or close, the ticket acted on; Note the work note or
	// close notes, CloseCode the close code.
	Ticket    *TicketRef `json:"ticket,omitempty"`
	Note      string     `json:"note,omitempty"`
	CloseCode string     `json:"close_code,omitempty"`
	// Related is, for an incident, the number of the drift's change request.
	Related string `json:"related,omitempty"`
	// NotBefore, when set, is the earliest time the action may run: a remediation waits for
	// its policy's maintenance window (PolicyEvaluated_v2.ActAfter).
	NotBefore time.Time `json:"not_before,omitzero"`
}

// TicketRef names an ITSM ticket: its kind (change_request, incident), the service's key
// (ServiceNow's sys_id), the number people quote and a link.
type TicketRef struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Number string `json:"number"`
	URL    string `json:"url,omitempty"`
}

// Run is what a playbook or script run left: its exit code, final status, bounded and
// redacted output and, for a playbook, its events summarised.
type Run struct {
	RC     *int       `json:"rc,omitempty"`
	Status string     `json:"status,omitempty"`
	Output string     `json:"output,omitempty"`
	Events []RunEvent `json:"events,omitempty"`
}

// RunEvent is one event of a playbook run (one per task and host result).
type RunEvent struct {
	Counter int    `json:"counter"`
	Event   string `json:"event"`
	Host    string `json:"host,omitempty"`
	Task    string `json:"task,omitempty"`
	Changed bool   `json:"changed,omitempty"`
	Failed  bool   `json:"failed,omitempty"`
	Message string `json:"message,omitempty"`
}

// ActionSucceeded_v1 records a performed action. Changed is false when the CI was already as
// the action would leave it (an action is idempotent: a quarantine of a quarantined CI, a
// release of a CI that is not quarantined, a start of a running one succeed without change).
type ActionSucceeded_v1 struct {
	ActionID string           `json:"action_id"`
	Kind     drift.ActionKind `json:"kind"`
	CIID     string           `json:"ci_id"`
	DriftID  string           `json:"drift_id,omitempty"`
	Changed  bool             `json:"changed"`
	// Target names what the executor acted on (for Docker: the container's name and id).
	Target string `json:"target,omitempty"`
	// Networks is, for a quarantine, the networks the CI had before it (what a release
	// restores) and, for a release, the networks restored.
	Networks []string `json:"networks,omitempty"`
	// QuarantineNetwork is the network a quarantined CI keeps.
	QuarantineNetwork string    `json:"quarantine_network,omitempty"`
	Detail            string    `json:"detail,omitempty"`
	CompletedAt       time.Time `json:"completed_at"`
	// Attempt is the request's remediation attempt; Run what a playbook or script run left;
	// Ticket the ticket a ticket action opened or acted on.
	Attempt int        `json:"attempt,omitempty"`
	Run     *Run       `json:"run,omitempty"`
	Ticket  *TicketRef `json:"ticket,omitempty"`
}

// ActionFailed_v1 records an action that could not be performed. Attempt counts the failures
// of this action so far; Retryable tells whether asking again may help (the daemon was
// unreachable) or not (no such CI, a refused operation).
type ActionFailed_v1 struct {
	ActionID  string           `json:"action_id"`
	Kind      drift.ActionKind `json:"kind"`
	CIID      string           `json:"ci_id"`
	DriftID   string           `json:"drift_id,omitempty"`
	Attempt   int              `json:"attempt"`
	Reason    string           `json:"reason"`
	Retryable bool             `json:"retryable"`
	FailedAt  time.Time        `json:"failed_at"`
	// RemediationAttempt is the request's remediation attempt (ActionRequested_v1.Attempt);
	// Run what a playbook or script run left, when one ran.
	RemediationAttempt int  `json:"remediation_attempt,omitempty"`
	Run                *Run `json:"run,omitempty"`
}

// DriftEscalated_v1 records that a drift was still there after its remediation attempts (or
// that they kept failing): an incident is opened for it. It is recorded once per drift.
type DriftEscalated_v1 struct {
	DriftID string `json:"drift_id"`
	CIID    string `json:"ci_id"`
	Field   string `json:"field,omitempty"`
	// Attempts is how many remediation attempts were made.
	Attempts    int            `json:"attempts"`
	Reason      string         `json:"reason"`
	Severity    drift.Severity `json:"severity,omitempty"`
	EscalatedAt time.Time      `json:"escalated_at"`
	// PlannedChange is set for a planned drift (see DriftPlanned_v1): the change it is part
	// of. A planned drift's escalation must not page.
	PlannedChange string `json:"planned_change,omitempty"`
}

// FactType implements Fact.
func (DriftEscalated_v1) FactType() string { return TypeDriftEscalated }

// FactType implements Fact.
func (ActionRequested_v1) FactType() string { return TypeActionRequested }

// FactType implements Fact.
func (ActionSucceeded_v1) FactType() string { return TypeActionSucceeded }

// FactType implements Fact.
func (ActionFailed_v1) FactType() string { return TypeActionFailed }

// ActionID is the stable id of the action of a kind on a drift: the action stage and the API
// derive the same id, so each drift is quarantined, released, started or stopped at most
// once.
func ActionID(driftID string, kind drift.ActionKind) string {
	return DeriveID("action", driftID, string(kind))
}

// AttemptID is the stable id of remediation attempt n (from 1) of a kind on a drift; the
// first attempt's id is ActionID's.
func AttemptID(driftID string, kind drift.ActionKind, n int) string {
	if n <= 1 {
		return ActionID(driftID, kind)
	}
	return DeriveID("action", driftID, string(kind), strconv.Itoa(n))
}

// TicketActionID is the stable id of a ticket operation (update, close) on a drift's ticket
// of ticketKind, keyed by what it is for (an escalation, a resolution).
func TicketActionID(driftID string, kind drift.ActionKind, ticketKind, key string) string {
	return DeriveID("action", driftID, string(kind), ticketKind, key)
}

// DriftPlanned_v1 marks a drift as planned: it was observed while a remediation of
// driftwatch's own was in progress on its CI, or in the implementation window of an
// approved change request on it in the ITSM system, so it is an expected effect of that
// change. Change names it (the change request's number, or the remediation's action id).
// Drifts without this fact are unplanned.
type DriftPlanned_v1 struct {
	DriftID string `json:"drift_id"`
	CIID    string `json:"ci_id"`
	Change  string `json:"change"`
	// ByDrift and ActionID are the drift being remediated and the remediation's action, for
	// a drift planned by driftwatch's own remediation.
	ByDrift  string `json:"by_drift,omitempty"`
	ActionID string `json:"action_id,omitempty"`
	// WindowStart and WindowEnd are the implementation window of the approved change, for a
	// drift planned by one.
	WindowStart *time.Time `json:"window_start,omitempty"`
	WindowEnd   *time.Time `json:"window_end,omitempty"`
	Reason      string     `json:"reason"`
	PlannedAt   time.Time  `json:"planned_at"`
}

// FactType implements Fact.
func (DriftPlanned_v1) FactType() string { return TypeDriftPlanned }
