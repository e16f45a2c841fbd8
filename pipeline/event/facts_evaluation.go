package event

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// StateRecorded_v1 stores one distinct state (an observed state, a desired definition) once,
// content-addressed: its subject and stream are its hash, its id derives from the hash, so
// recording the same state again adds nothing. Facts refer to states by hash.
type StateRecorded_v1 struct {
	// Hash is drift.HashCanonical(State): "sha256:" and 64 hex digits.
	Hash string `json:"hash"`
	// State is the JSON object in canonical form.
	State json.RawMessage `json:"state"`
}

// StateRecord is the record that stores a canonical state under its hash.
func StateRecord(hash string, canonical json.RawMessage, at time.Time) Record {
	return Record{ID: DeriveID("state", hash), Subject: hash, Time: at, Fact: StateRecorded_v1{Hash: hash, State: canonical}}
}

// StateStream names the event-store stream that holds the state with hash.
func StateStream(hash string) string { return StreamOf(TypeStateRecorded, hash) }

// Observed is what the evaluation facts carry of the observation they evaluate: everything
// but the state itself, which is stored once under StateHash (StateRecorded_v1).
type Observed struct {
	ObservationID string    `json:"observation_id"`
	CIID          string    `json:"ci_id"`
	CIType        string    `json:"ci_type,omitempty"`
	TemplateID    string    `json:"template_id,omitempty"`
	Source        string    `json:"source,omitempty"`
	Scope         []string  `json:"scope,omitempty"`
	ObservedAt    time.Time `json:"observed_at"`
	StateHash     string    `json:"state_hash"`
	// Details carries evidence per field pointer (a file's unified diff); shown on the drift
	// of that field and never compared.
	Details map[string]string `json:"details,omitempty"`
	// Reevaluation says why the CI's last observed state is evaluated again without a new
	// observation (a reconcile, a changed template); empty for a new observation.
	Reevaluation string `json:"reevaluation,omitempty"`
}

// ObservationReceived_v2 records an observation that passed ingest and changed the CI's
// state: the state is stored once under StateHash. An observation that repeats the CI's
// state is ObservationUnchanged_v1 instead and goes no further.
type ObservationReceived_v2 struct {
	Observed
	ReceivedAt time.Time `json:"received_at"`
}

// ObservationUnchanged_v1 records that a CI was observed again in the state it was already
// in: the CI is verified, and nothing downstream has anything to do. Ingest records at most
// one per CI within its coalescing interval.
type ObservationUnchanged_v1 struct {
	ObservationID string    `json:"observation_id"`
	CIID          string    `json:"ci_id"`
	Source        string    `json:"source,omitempty"`
	ObservedAt    time.Time `json:"observed_at"`
	ReceivedAt    time.Time `json:"received_at"`
	StateHash     string    `json:"state_hash"`
	// Repeats counts the unchanged observations this fact stands for: itself and those
	// coalesced into it since the CI's previous observation fact.
	Repeats int `json:"repeats"`
}

// EvaluationRequested_v1 asks for a CI's last observed state to be evaluated again against
// its current desired state and policy (a reconcile, a changed template, policy or NetBox
// record), without a new observation.
type EvaluationRequested_v1 struct {
	Observed
	RequestedAt time.Time `json:"requested_at"`
}

// DesiredRef names the desired state an observation was judged against: the source, the
// template or record and its version, and the definition's hash (stored by
// StateRecorded_v1).
type DesiredRef struct {
	Source     string `json:"source,omitempty"`
	TemplateID string `json:"template_id,omitempty"`
	Version    int    `json:"version,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Commit     string `json:"commit,omitempty"`
	Hash       string `json:"hash,omitempty"`
}

// RefOf names a resolved desired state.
func RefOf(d drift.Desired) DesiredRef {
	return DesiredRef{Source: d.Source, TemplateID: d.TemplateID, Version: d.Version, Ref: d.Ref, Commit: d.Commit, Hash: d.BaselineHash}
}

// String renders the reference for people: "template web v2", "netbox dcim.device 4".
func (d DesiredRef) String() string {
	var parts []string
	for _, p := range []string{d.Source, d.TemplateID, d.Ref} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if d.Version > 0 {
		parts = append(parts, "v"+itoa(d.Version))
	}
	if d.Commit != "" {
		parts = append(parts, "@"+d.Commit)
	}
	return strings.Join(parts, " ")
}

// DesiredStateResolved_v2 pairs an observation with the desired state of its CI, by
// reference. Managed is false when no source has a desired state for the CI; Unmanaged says
// why then.
type DesiredStateResolved_v2 struct {
	Observed  Observed   `json:"observation"`
	Managed   bool       `json:"managed"`
	Desired   DesiredRef `json:"desired,omitzero"`
	Unmanaged string     `json:"unmanaged,omitempty"`
}

// DiffComputed_v2 is the field-level comparison of one observation with its desired state
// under the governing policy (carried whole: it is small, and the policy stage decides from
// it alone). Checked lists the monitored pointers compared: an open drift on a checked field
// that is not in Drifts no longer differs.
type DiffComputed_v2 struct {
	Observed      Observed           `json:"observation"`
	Desired       DesiredRef         `json:"desired,omitzero"`
	Policy        drift.Policy       `json:"policy"`
	PolicyVersion int                `json:"policy_version,omitempty"`
	HashEqual     bool               `json:"hash_equal"`
	Checked       []string           `json:"checked"`
	Drifts        []drift.FieldDrift `json:"drifts"`
}

// PolicyEvaluated_v2 is the policy's verdict on one diff: which drifts to open (none when
// fewer than the threshold differ) and which actions they ask for.
type PolicyEvaluated_v2 struct {
	Observed          Observed         `json:"observation"`
	Desired           DesiredRef       `json:"desired,omitzero"`
	PolicyID          string           `json:"policy_id"`
	PolicyVersion     int              `json:"policy_version,omitempty"`
	Severity          drift.Severity   `json:"severity"`
	Category          drift.Category   `json:"category"`
	DriftThreshold    int              `json:"drift_threshold"`
	Differing         int              `json:"differing"`
	ThresholdMet      bool             `json:"threshold_met"`
	ActionType        drift.ActionType `json:"action_type"`
	AutoChangeRequest bool             `json:"auto_change_request"`
	AutoRemediate     bool             `json:"auto_remediate"`
	// Script is the policy's remediation playbook (with auto_remediate) or script.
	Script  string             `json:"script,omitempty"`
	Notify  []string           `json:"notify,omitempty"`
	Checked []string           `json:"checked"`
	Drifts  []drift.FieldDrift `json:"drifts"`
	// Differs lists every checked field that still differs, including those under threshold,
	// so that a drift already open on one of them is not resolved.
	Differs []string `json:"differs"`
	// DetectOnly says the policy only reports: no action of any kind (ticket, remediation,
	// quarantine, script) is taken for these drifts; notifications still go out.
	DetectOnly bool `json:"detect_only,omitempty"`
	// ActAfter, when set, is the earliest time a remediation may run: the policy's next
	// maintenance window. Tickets and notifications do not wait for it.
	ActAfter time.Time `json:"act_after,omitzero"`
	// Excepted lists the checked fields that differ only by values an active exception of
	// the policy approves: no drift opens on them, and one open resolves as excepted.
	Excepted []drift.ExceptedField `json:"excepted,omitempty"`
}

// FactType implements Fact.
func (StateRecorded_v1) FactType() string { return TypeStateRecorded }

// FactType implements Fact.
func (ObservationReceived_v2) FactType() string { return TypeObservationReceivedV2 }

// FactType implements Fact.
func (ObservationUnchanged_v1) FactType() string { return TypeObservationUnchanged }

// FactType implements Fact.
func (EvaluationRequested_v1) FactType() string { return TypeEvaluationRequested }

// FactType implements Fact.
func (DesiredStateResolved_v2) FactType() string { return TypeDesiredStateResolvedV2 }

// FactType implements Fact.
func (DiffComputed_v2) FactType() string { return TypeDiffComputedV2 }

// FactType implements Fact.
func (PolicyEvaluated_v2) FactType() string { return TypePolicyEvaluatedV2 }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
