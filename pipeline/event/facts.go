// Package event defines driftwatch's facts: versioned event payloads that are never changed in
// place (a new version instead), the CloudEvents 1.0 envelope that carries them on every wire,
// and the registry that maps each fact to its topic and event-store stream.
package event

import (
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Fact is implemented by every versioned event payload.
type Fact interface {
	// FactType is the CloudEvents type, e.g. "io.driftwatch.drift.detected.v1".
	FactType() string
}

// ObservationReceived_v1 records an observation that passed ingest: validated and normalised.
type ObservationReceived_v1 struct {
	ObservationID string            `json:"observation_id"`
	CIID          string            `json:"ci_id"`
	CIType        string            `json:"ci_type,omitempty"`
	TemplateID    string            `json:"template_id,omitempty"`
	Source        string            `json:"source,omitempty"`
	Scope         []string          `json:"scope,omitempty"`
	ObservedAt    time.Time         `json:"observed_at"`
	ReceivedAt    time.Time         `json:"received_at"`
	State         json.RawMessage   `json:"state"`
	StateHash     string            `json:"state_hash"`
	Details       map[string]string `json:"details,omitempty"`
}

// DesiredStateResolved_v1 pairs an observation with the CI's desired state. Managed is false
// when no desired state is known for the CI; Desired and BaselineHash are empty then.
type DesiredStateResolved_v1 struct {
	Observation   ObservationReceived_v1 `json:"observation"`
	Managed       bool                   `json:"managed"`
	DesiredSource string                 `json:"desired_source,omitempty"`
	TemplateID    string                 `json:"template_id,omitempty"`
	Desired       json.RawMessage        `json:"desired,omitempty"`
	BaselineHash  string                 `json:"baseline_hash,omitempty"`
}

// DiffComputed_v1 is the field-level comparison of one observation with its desired state
// under the governing policy. Checked lists the monitored pointers that were compared: an open
// drift on a checked field that is not in Drifts no longer differs.
type DiffComputed_v1 struct {
	ObservationID string             `json:"observation_id"`
	CIID          string             `json:"ci_id"`
	CIType        string             `json:"ci_type,omitempty"`
	TemplateID    string             `json:"template_id,omitempty"`
	ObservedAt    time.Time          `json:"observed_at"`
	Policy        drift.Policy       `json:"policy"`
	HashEqual     bool               `json:"hash_equal"`
	StateHash     string             `json:"state_hash"`
	BaselineHash  string             `json:"baseline_hash"`
	Checked       []string           `json:"checked"`
	Drifts        []drift.FieldDrift `json:"drifts"`
}

// PolicyEvaluated_v1 is the policy's verdict on one diff: which drifts to open (Drifts is empty
// when fewer than the threshold differ) and which actions they ask for.
type PolicyEvaluated_v1 struct {
	ObservationID     string             `json:"observation_id"`
	CIID              string             `json:"ci_id"`
	CIType            string             `json:"ci_type,omitempty"`
	TemplateID        string             `json:"template_id,omitempty"`
	ObservedAt        time.Time          `json:"observed_at"`
	PolicyID          string             `json:"policy_id"`
	Severity          drift.Severity     `json:"severity"`
	Category          drift.Category     `json:"category"`
	DriftThreshold    int                `json:"drift_threshold"`
	Differing         int                `json:"differing"`
	ThresholdMet      bool               `json:"threshold_met"`
	ActionType        drift.ActionType   `json:"action_type"`
	AutoChangeRequest bool               `json:"auto_change_request"`
	AutoRemediate     bool               `json:"auto_remediate"`
	Notify            []string           `json:"notify,omitempty"`
	Checked           []string           `json:"checked"`
	Drifts            []drift.FieldDrift `json:"drifts"`
	// Differs lists every checked field that still differs, including those under threshold,
	// so that a drift already open on one of them is not resolved.
	Differs []string `json:"differs"`
}

// DriftDetected_v1 opens one drift: a monitored field of a CI that differs from its desired
// state. There is at most one open drift per (ci_id, field).
type DriftDetected_v1 struct {
	DriftID    string `json:"drift_id"`
	CIID       string `json:"ci_id"`
	CIType     string `json:"ci_type,omitempty"`
	TemplateID string `json:"template_id,omitempty"`
	// DesiredSource and TemplateVersion name the desired state the drift was judged against
	// (source "template", "netbox", "git"; the template's or record's version); PolicyVersion
	// the policy's.
	DesiredSource     string           `json:"desired_source,omitempty"`
	TemplateVersion   int              `json:"template_version,omitempty"`
	PolicyID          string           `json:"policy_id"`
	PolicyVersion     int              `json:"policy_version,omitempty"`
	ObservationID     string           `json:"observation_id"`
	Field             string           `json:"field"`
	Desired           json.RawMessage  `json:"desired"`
	Actual            json.RawMessage  `json:"actual"`
	Patch             json.RawMessage  `json:"patch"`
	Detail            string           `json:"detail,omitempty"`
	Category          drift.Category   `json:"category"`
	Severity          drift.Severity   `json:"severity"`
	ActionType        drift.ActionType `json:"action_type"`
	AutoChangeRequest bool             `json:"auto_change_request"`
	AutoRemediate     bool             `json:"auto_remediate"`
	// Script is the policy's remediation playbook (with auto_remediate) or script.
	Script     string    `json:"script,omitempty"`
	Notify     []string  `json:"notify,omitempty"`
	DetectedAt time.Time `json:"detected_at"`
	// DetectOnly and ActAfter are the verdict's (PolicyEvaluated_v2): no action at all, and
	// no remediation before that time.
	DetectOnly bool      `json:"detect_only,omitempty"`
	ActAfter   time.Time `json:"act_after,omitzero"`
}

// DriftResolved_v1 closes an open drift: its field matches the desired state again.
type DriftResolved_v1 struct {
	DriftID       string    `json:"drift_id"`
	CIID          string    `json:"ci_id"`
	Field         string    `json:"field"`
	ObservationID string    `json:"observation_id"`
	Reason        string    `json:"reason"`
	ResolvedAt    time.Time `json:"resolved_at"`
}

// DriftUpdated_v1 records that the actual value of an open drift changed: the field still
// differs, but not as it did. The drift keeps its first actual value (in DriftDetected_v1)
// and shows the latest from here.
type DriftUpdated_v1 struct {
	DriftID       string          `json:"drift_id"`
	CIID          string          `json:"ci_id"`
	Field         string          `json:"field"`
	ObservationID string          `json:"observation_id"`
	Actual        json.RawMessage `json:"actual"`
	Patch         json.RawMessage `json:"patch"`
	Detail        string          `json:"detail,omitempty"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// FactType implements Fact.
func (DriftUpdated_v1) FactType() string { return TypeDriftUpdated }

// DriftAcknowledged_v1 records that a person saw an open drift; alerts for it are suppressed.
// The drift stays unresolved until its field matches again.
type DriftAcknowledged_v1 struct {
	DriftID        string    `json:"drift_id"`
	CIID           string    `json:"ci_id"`
	By             string    `json:"by,omitempty"`
	Comment        string    `json:"comment,omitempty"`
	AcknowledgedAt time.Time `json:"acknowledged_at"`
}

// PolicyChanged_v1 records a created, updated or deleted policy; Policy is the whole new value.
type PolicyChanged_v1 struct {
	Policy    drift.Policy `json:"policy"`
	Deleted   bool         `json:"deleted,omitempty"`
	ChangedAt time.Time    `json:"changed_at"`
}

// TemplateChanged_v1 records a created, updated or deleted template; Template is the whole new
// value, with its baseline hash.
type TemplateChanged_v1 struct {
	Template  drift.Template `json:"template"`
	Deleted   bool           `json:"deleted,omitempty"`
	ChangedAt time.Time      `json:"changed_at"`
}

// ObservationSubmitted_v1 is a raw observation as a source sends it, before ingest. It is the
// only payload on the observations topic that is not yet a fact in the event store.
type ObservationSubmitted_v1 struct {
	drift.Observation
	// Scope, when set, lists the top-level fields the observation covers; others are left alone.
	Scope []string `json:"scope,omitempty"`
}

// Poison_v1 is a message that could not be processed, with the reason, parked on the poison
// topic for an operator.
type Poison_v1 struct {
	Reason   string          `json:"reason"`
	Handler  string          `json:"handler"`
	Topic    string          `json:"topic"`
	ID       string          `json:"original_id,omitempty"`
	Original json.RawMessage `json:"original"`
}

// FactType implements Fact.
func (ObservationReceived_v1) FactType() string { return TypeObservationReceived }

// FactType implements Fact.
func (DesiredStateResolved_v1) FactType() string { return TypeDesiredStateResolved }

// FactType implements Fact.
func (DiffComputed_v1) FactType() string { return TypeDiffComputed }

// FactType implements Fact.
func (PolicyEvaluated_v1) FactType() string { return TypePolicyEvaluated }

// FactType implements Fact.
func (DriftDetected_v1) FactType() string { return TypeDriftDetected }

// FactType implements Fact.
func (DriftResolved_v1) FactType() string { return TypeDriftResolved }

// FactType implements Fact.
func (DriftAcknowledged_v1) FactType() string { return TypeDriftAcknowledged }

// FactType implements Fact.
func (PolicyChanged_v1) FactType() string { return TypePolicyChanged }

// FactType implements Fact.
func (TemplateChanged_v1) FactType() string { return TypeTemplateChanged }

// FactType implements Fact.
func (ObservationSubmitted_v1) FactType() string { return TypeObservationSubmitted }

// FactType implements Fact.
func (Poison_v1) FactType() string { return TypePoison }
