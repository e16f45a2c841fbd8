package event

import (
	"encoding/json"
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
}

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
