package drifts

import (
	"encoding/json"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// Drift is one drift event as the read model holds it: what DriftDetected_v1 opened, and
// what acknowledgement and resolution added.
type Drift struct {
	ID     string       `json:"drift_id"`
	Status drift.Status `json:"status"`
	CIID   string       `json:"ci_id"`
	CIType string       `json:"ci_type,omitempty"`
	// TemplateID and TemplateVersion name the template (and its version) the drift was
	// judged against, when its desired state came from one; DesiredSource the source
	// ("template", "netbox", "git"); PolicyVersion the version of its policy.
	TemplateID      string          `json:"template_id,omitempty"`
	TemplateVersion int             `json:"template_version,omitempty"`
	DesiredSource   string          `json:"desired_source,omitempty"`
	PolicyID        string          `json:"policy_id"`
	PolicyVersion   int             `json:"policy_version,omitempty"`
	ObservationID   string          `json:"observation_id"`
	Category        drift.Category  `json:"category"`
	Severity        drift.Severity  `json:"severity"`
	Field           string          `json:"field"`
	Desired         json.RawMessage `json:"desired"`
	// Actual is the field's latest actual value; FirstActual the one it was detected with.
	Actual      json.RawMessage `json:"actual"`
	FirstActual json.RawMessage `json:"first_actual,omitempty"`
	// UpdatedAt and Updates say when, and how often, the actual value changed since.
	UpdatedAt         time.Time        `json:"updated_at,omitzero"`
	Updates           int              `json:"updates,omitempty"`
	Patch             json.RawMessage  `json:"patch"`
	Detail            string           `json:"detail,omitempty"`
	ActionType        drift.ActionType `json:"action_type,omitempty"`
	AutoChangeRequest bool             `json:"auto_change_request"`
	AutoRemediate     bool             `json:"auto_remediate"`
	Notify            []string         `json:"notify,omitempty"`
	// DetectOnly says its policy only reports: no action is asked for it. ActAfter is the
	// earliest time its remediation may run (its policy's next maintenance window).
	DetectOnly       bool      `json:"detect_only,omitempty"`
	ActAfter         time.Time `json:"act_after,omitzero"`
	DetectedAt       time.Time `json:"detected_at"`
	AcknowledgedAt   time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy   string    `json:"acknowledged_by,omitempty"`
	AckComment       string    `json:"acknowledge_comment,omitempty"`
	ResolvedAt       time.Time `json:"resolved_at,omitzero"`
	ResolutionReason string    `json:"resolution_reason,omitempty"`
	// ResolvingObservationID is the observation that showed the field matching again.
	ResolvingObservationID string `json:"resolving_observation_id,omitempty"`
	// Ticket is the number of the drift's ITSM change request; Incident the number of the
	// incident opened when it escalated.
	Ticket   string `json:"ticket,omitempty"`
	Incident string `json:"incident,omitempty"`
	// RemediationAttempts counts the remediation attempts asked for (a playbook, a script,
	// a start or stop).
	RemediationAttempts int `json:"remediation_attempts,omitempty"`
	// Planned says the drift was observed while a remediation of driftwatch's own was in
	// progress on its CI; PlannedChange names that change (a change request's number, or
	// the remediation's action id). Other drifts are unplanned.
	Planned       bool   `json:"planned"`
	PlannedChange string `json:"planned_change,omitempty"`
	// EscalatedAt and EscalationReason say when and why the drift escalated.
	EscalatedAt      time.Time `json:"escalated_at,omitzero"`
	EscalationReason string    `json:"escalation_reason,omitempty"`
}

// CI is the drift status of one configuration item: its last observed state (by hash), its
// last verdict and its unresolved (open or acknowledged) drifts.
type CI struct {
	CIID              string    `json:"ci_id"`
	CIType            string    `json:"ci_type,omitempty"`
	TemplateID        string    `json:"template_id,omitempty"`
	Source            string    `json:"source,omitempty"`
	LastObservationID string    `json:"last_observation_id,omitempty"`
	LastObservedAt    time.Time `json:"last_observed_at,omitzero"`
	LastReceivedAt    time.Time `json:"last_received_at,omitzero"`
	// LastChangedAt is when the CI was last observed in a state it was not in before.
	LastChangedAt time.Time `json:"last_changed_at,omitzero"`
	StateHash     string    `json:"state_hash,omitempty"`
	// GoverningTemplate is the template whose desired state the CI was last judged against:
	// the one TemplateID names, else the one of highest priority for its type. Nil when no
	// template governs it.
	GoverningTemplate *TemplateRef `json:"governing_template,omitempty"`
	// Evaluation is the last verdict on the CI: which desired state and policy judged it.
	Evaluation *Evaluation `json:"evaluation,omitempty"`
	// OpenDrifts counts unresolved drifts: open and acknowledged ones.
	OpenDrifts int `json:"open_drifts"`
	// WorstOpenSeverity is the highest severity among them; empty when there are none.
	WorstOpenSeverity drift.Severity `json:"worst_open_severity,omitempty"`
}

// TemplateRef names a template and its version.
type TemplateRef struct {
	ID      string `json:"template_id"`
	Version int    `json:"version,omitempty"`
}

// Evaluation is the last verdict on a CI.
type Evaluation struct {
	ObservationID string `json:"observation_id"`
	// StateHash is the state that was judged.
	StateHash  string    `json:"state_hash"`
	ObservedAt time.Time `json:"observed_at"`
	// Reevaluation says why the state was judged again without a new observation.
	Reevaluation string `json:"reevaluation,omitempty"`
	// Desired names the desired state it was judged against: source, template and version.
	Desired       event.DesiredRef `json:"desired,omitzero"`
	PolicyID      string           `json:"policy_id"`
	PolicyVersion int              `json:"policy_version,omitempty"`
	// Differs counts the checked fields that differed.
	Differs int `json:"differs"`
	// Position is the verdict's place in the event store.
	Position uint64 `json:"position,omitempty"`
	// ExceptedUntil is when the first exception that suppressed a field in the verdict
	// expires: from then on the verdict is out of date (a reconcile judges the CI again).
	ExceptedUntil time.Time `json:"excepted_until,omitzero"`
}

// Counts splits a number of drifts by status.
type Counts struct {
	Total        int `json:"total"`
	Open         int `json:"open"`
	Acknowledged int `json:"acknowledged"`
	Remediating  int `json:"remediating"`
	Escalated    int `json:"escalated"`
	Resolved     int `json:"resolved"`
}

// add counts n drifts with status s.
func (c *Counts) add(s drift.Status, n int) {
	c.Total += n
	switch s {
	case drift.StatusOpen:
		c.Open += n
	case drift.StatusAcknowledged:
		c.Acknowledged += n
	case drift.StatusRemediating:
		c.Remediating += n
	case drift.StatusEscalated:
		c.Escalated += n
	case drift.StatusResolved:
		c.Resolved += n
	}
}

// Report is SPEC-080's summary: drift counts by CI type, category, severity and status. A
// drift without a CI type counts under "unknown".
type Report struct {
	Total      Counts                    `json:"total"`
	ByStatus   map[drift.Status]int      `json:"by_status"`
	ByCIType   map[string]Counts         `json:"by_ci_type"`
	ByCategory map[drift.Category]Counts `json:"by_category"`
	BySeverity map[drift.Severity]Counts `json:"by_severity"`
}

// Filter selects drifts; empty fields match everything.
type Filter struct {
	Status   drift.Status
	CIID     string
	Category drift.Category
	Severity drift.Severity
}

// match reports whether a drift with these attributes passes the filter.
func (f Filter) match(status drift.Status, ci string, cat drift.Category, sev drift.Severity) bool {
	return (f.Status == "" || f.Status == status) && (f.CIID == "" || f.CIID == ci) &&
		(f.Category == "" || f.Category == cat) && (f.Severity == "" || f.Severity == sev)
}

// Page asks for one page of a listing.
type Page struct {
	// Limit is the most items returned; List uses 50 when it is 0 or less.
	Limit int
	// Cursor is the NextCursor of the previous page; empty for the first page.
	Cursor string
}

// List is one page of drifts in detection order (detected_at, then drift id).
type List struct {
	Items []Drift `json:"items"`
	// Total counts every drift that matches the filter, on every page.
	Total int `json:"total"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}
