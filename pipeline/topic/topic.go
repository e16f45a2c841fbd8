// Package topic names every stream key driftwatch reads or writes. Renaming one strands the
// messages on the old key and re-reads the new one from the start: add a new version instead.
package topic

const (
	// Observations is where sources (agents, the Docker watcher, POST /observations) submit raw
	// observations.
	Observations = "driftwatch.observations.v1"
	// ObservationReceived carries observations that passed ingest (v1 facts: whole states).
	ObservationReceived = "driftwatch.observation-received.v1"
	// ObservationReceivedV2 carries observations that passed ingest and changed their CI's
	// state, by state hash.
	ObservationReceivedV2 = "driftwatch.observation-received.v2"
	// EvaluationRequested carries requests to evaluate a CI's last state again (reconcile,
	// changed desired state or policy).
	EvaluationRequested = "driftwatch.evaluation-requested.v1"
	// DesiredStateResolvedV2, DiffComputedV2 and PolicyEvaluatedV2 carry the evaluation
	// chain's facts, which refer to states by hash.
	DesiredStateResolvedV2 = "driftwatch.desired-state-resolved.v2"
	DiffComputedV2         = "driftwatch.diff-computed.v2"
	PolicyEvaluatedV2      = "driftwatch.policy-evaluated.v2"
	// DesiredStateResolved carries observations paired with their desired state.
	DesiredStateResolved = "driftwatch.desired-state-resolved.v1"
	// DiffComputed carries field-level diffs.
	DiffComputed = "driftwatch.diff-computed.v1"
	// PolicyEvaluated carries policy verdicts.
	PolicyEvaluated = "driftwatch.policy-evaluated.v1"
	// DriftDetected is SPEC-080's public stream of opened drifts; its CloudEvents type carries
	// the version.
	DriftDetected = "drift.detected"
	// DriftResolved is the public stream of closed drifts.
	DriftResolved = "drift.resolved"
	// DriftUpdated is the public stream of changes of an open drift's actual value.
	DriftUpdated = "drift.updated"
	// DriftAcknowledged is the public stream of acknowledgements.
	DriftAcknowledged = "drift.acknowledged"
	// DriftEscalated is the public stream of escalations: drifts still there after their
	// remediation attempts.
	DriftEscalated = "drift.escalated"
	// DriftPlanned is the public stream of drifts marked planned: observed while a
	// remediation of driftwatch's own was in progress on their CI.
	DriftPlanned = "drift.planned"
	// Poison parks messages that cannot be processed, with their reason.
	Poison = "driftwatch.poison.v1"
	// ObservationRejected carries observations refused for their credentials (a CI that does
	// not belong to the agent that sent it, a bad signature).
	ObservationRejected = "driftwatch.observation-rejected.v1"
	// ActionRequested, ActionSucceeded and ActionFailed carry remediation actions
	// (quarantine, release, start, stop, change requests) and their outcomes.
	ActionRequested = "driftwatch.action-requested.v1"
	ActionSucceeded = "driftwatch.action-succeeded.v1"
	ActionFailed    = "driftwatch.action-failed.v1"
)
