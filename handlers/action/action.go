// Package action is the remediation stage. The planner turns each drift into the actions its
// policy asks for (ActionRequested_v1); the runner performs requested actions, whether a
// policy or a person asked, through an Executor and records the outcome (ActionSucceeded_v1
// or ActionFailed_v1) on the CI's action stream. Executors for outside systems live in
// sub-packages (docker).
package action

import (
	"context"

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
}

// Executor performs actions on CIs. Execute must be idempotent: performing an action again
// succeeds without change (Outcome.Changed false), so that a redelivered request is safe. It
// returns errors marked fault.Permanent when asking again cannot help (no such CI, an
// operation the system refuses, a kind it does not support); other errors are retried.
type Executor interface {
	Execute(ctx context.Context, r Request) (Outcome, error)
}
