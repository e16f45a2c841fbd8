// Package action is the remediation stage. The planner turns each drift into the actions its
// policy asks for (ActionRequested_v1); the runner performs requested actions, whether a
// policy or a person asked, through an Executor and records the outcome (ActionSucceeded_v1
// or ActionFailed_v1) on the CI's action stream. Executors for outside systems live in
// sub-packages (docker, ansible, script, servicenow, ticketwebhook). The lifecycle follows
// each drift's remediation attempts and closes, updates or escalates its tickets.
package action

import (
	"context"
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Request is one action for an executor.
type Request struct {
	// ActionID is the action's stable id (event.ActionID).
	ActionID string
	Kind     drift.ActionKind
	CIID     string
	CIType   string
	// Networks is, for a release, the networks recorded when the CI was quarantined; empty
	// when the action stream holds no quarantine.
	Networks []string
	// Target names what a playbook or script action runs: the id of a playbook in the
	// allowlisted playbook directory, or of an allowlisted script.
	Target string
	// Vars are a playbook's extra variables: a JSON object passed to the runner as data,
	// never through a shell or a template engine. Keys starting with "ansible_" are refused.
	Vars json.RawMessage
	// Args are a script's arguments, passed as an argv array after its executable.
	Args []string
	// DriftID, Field, Desired and Actual describe the drift the action answers, for the
	// executors that work from it (auto-correct, a remediation playbook's variables).
	DriftID string
	Field   string
	Desired json.RawMessage
	Actual  json.RawMessage
	// Severity, Category, PolicyID and Detail describe the drift further, for tickets.
	Severity drift.Severity
	Category drift.Category
	PolicyID string
	Detail   string
	// Attempt numbers a remediation's attempts on its drift from 1; 0 for other actions.
	Attempt int
	// Ticket is, for a ticket update or close, the ticket to act on; Note the work note or
	// the close notes; CloseCode the close code.
	Ticket    *Ticket
	Note      string
	CloseCode string
	// Related is, for an incident, the number of the drift's change request.
	Related string
	// At is when the action was asked for; a retried request keeps it, so that what an
	// executor derives from it (a work note's marker) stays the same.
	At time.Time
}

// Outcome is what an executor did.
type Outcome struct {
	// Changed is false when the CI already was as the action leaves it.
	Changed bool
	// Target names what was acted on.
	Target string
	// Networks is, for a quarantine, the networks the CI had before it; for a release, the
	// networks restored.
	Networks []string
	// QuarantineNetwork is the network a quarantined CI keeps.
	QuarantineNetwork string
	// Detail says what was done, for people.
	Detail string
	// RC is the exit code of a playbook run or a script, when one ran.
	RC *int
	// Status is a playbook run's final status as ansible-runner reports it (successful,
	// failed, timeout, canceled) or, for a script, "successful" or "failed".
	Status string
	// Output is what the run printed, redacted and cut to a bounded size.
	Output string
	// Events are a playbook run's events (one per task and host result), summarised.
	Events []RunEvent
	// Ticket is the ticket a ticket action opened or acted on.
	Ticket *Ticket
}

// RunEvent is one event of a playbook run, as ansible-runner reports it in job_events.
type RunEvent struct {
	// Counter orders the events of one run.
	Counter int `json:"counter"`
	// Event is ansible-runner's event name (runner_on_ok, runner_on_failed, playbook_on_stats...).
	Event string `json:"event"`
	Host  string `json:"host,omitempty"`
	Task  string `json:"task,omitempty"`
	// Changed and Failed are the task result's flags.
	Changed bool `json:"changed,omitempty"`
	Failed  bool `json:"failed,omitempty"`
	// Message is the result's msg, redacted and cut short.
	Message string `json:"message,omitempty"`
}

// Executor performs actions on CIs. Execute must be idempotent: performing an action again
// succeeds without change (Outcome.Changed false), so that a redelivered request is safe. It
// returns errors marked fault.Permanent when asking again cannot help (no such CI, an
// operation the system refuses, a kind it does not support); other errors are retried.
type Executor interface {
	Execute(ctx context.Context, r Request) (Outcome, error)
}
