package drift

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Template is the template card's desired-state template.
type Template struct {
	// ID is the template_id; required.
	ID string `json:"template_id"`
	// ResourceType is the ci_type the template describes; required.
	ResourceType string `json:"resource_type"`
	// Definition is the desired state as a JSON object (YAML input is converted on entry).
	Definition json.RawMessage `json:"template_definition"`
	// Priority ranks the templates of one resource_type: of those, the one with the highest
	// priority governs the CIs of that type that name no template_id. Two templates of one
	// resource_type never share a priority (the second is refused), so exactly one governs;
	// default 0.
	Priority int `json:"priority,omitempty"`
	// BaselineHash is Hash(Definition), computed by driftwatch.
	BaselineHash string `json:"baseline_hash"`
	// Version counts the template's changes from 1, set by driftwatch: every update is a new
	// version, and every drift names the version it was judged against.
	Version int `json:"version,omitempty"`
	// CreatedAt and UpdatedAt are set by driftwatch.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate reports every problem with t at once; each error names its field.
func (t Template) Validate() error {
	var errs []error
	if strings.TrimSpace(t.ID) == "" {
		errs = append(errs, errors.New("template_id: required"))
	}
	if strings.TrimSpace(t.ResourceType) == "" {
		errs = append(errs, errors.New("resource_type: required"))
	}
	if len(t.Definition) == 0 {
		errs = append(errs, errors.New("template_definition: required"))
	} else if !IsObject(t.Definition) {
		errs = append(errs, errors.New("template_definition: must be a JSON or YAML object"))
	}
	return errors.Join(errs...)
}

// IsObject reports whether doc is a JSON object.
func IsObject(doc json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(doc, &m) == nil && m != nil
}

// Observation is one report of a CI's actual state, as a source sends it.
type Observation struct {
	// ID identifies the observation at its source; a repeated ID is the same observation.
	// Optional: without it, the content (CI, time, state hash) identifies it.
	ID string `json:"id,omitempty"`
	// CIID is the configuration item observed; required.
	CIID string `json:"ci_id"`
	// CIType is the CI's type (vm, container, node...); required unless TemplateID is set.
	CIType string `json:"ci_type,omitempty"`
	// TemplateID, when set, names the template holding the CI's desired state.
	TemplateID string `json:"template_id,omitempty"`
	// Source names the detection source (agent, docker, ansible, api).
	Source string `json:"source,omitempty"`
	// ObservedAt is when the state was captured; default: when driftwatch received it.
	ObservedAt time.Time `json:"observed_at,omitempty"`
	// State is the actual state as a JSON object; required.
	State json.RawMessage `json:"state"`
	// StateHash, when the source sends it, must equal Hash(State).
	StateHash string `json:"state_hash,omitempty"`
	// Details carries evidence per field pointer, such as a file's unified diff; it is shown
	// with the drift of that field and never compared.
	Details map[string]string `json:"details,omitempty"`
	// AgentID names the enrolled agent that sent the observation; empty for unsigned sources.
	AgentID string `json:"agent_id,omitempty"`
	// Signature is the agent's Ed25519 signature (standard base64) over the submission's
	// signing payload (see event.SigningPayload); required when AgentID is set.
	Signature string `json:"signature,omitempty"`
}

// Validate reports every problem with o at once; each error names its field.
func (o Observation) Validate() error {
	var errs []error
	if strings.TrimSpace(o.CIID) == "" {
		errs = append(errs, errors.New("ci_id: required"))
	}
	if o.CIType == "" && o.TemplateID == "" {
		errs = append(errs, errors.New("ci_type: required unless template_id is set"))
	}
	if len(o.State) == 0 {
		errs = append(errs, errors.New("state: required"))
	} else if !IsObject(o.State) {
		errs = append(errs, errors.New("state: must be a JSON object"))
	} else if o.StateHash != "" {
		if h, err := Hash(o.State); err != nil || h != o.StateHash {
			errs = append(errs, fmt.Errorf("state_hash: %q does not match the state (sha256 of canonical JSON is %q)", o.StateHash, h))
		}
	}
	return errors.Join(errs...)
}

// FieldDrift is one monitored field whose actual value differs from the desired one.
type FieldDrift struct {
	// Field is the JSON pointer of the monitored field ("/power_state").
	Field string `json:"field"`
	// Desired and Actual are the values at Field; absent values are null with the flag set.
	Desired        json.RawMessage `json:"desired"`
	Actual         json.RawMessage `json:"actual"`
	DesiredMissing bool            `json:"desired_missing,omitempty"`
	ActualMissing  bool            `json:"actual_missing,omitempty"`
	// Patch is the RFC 6902 patch, under Field, that turns the desired value into the actual one.
	Patch json.RawMessage `json:"patch"`
	// Detail is the observation's evidence for Field (see Observation.Details), if any.
	Detail string `json:"detail,omitempty"`
}

// Desired is the desired state of one CI as a desired-state source (NetBox, a Git checkout,
// driftwatch's own templates) resolves it.
type Desired struct {
	// Source names where it came from ("netbox", "git", "template").
	Source string `json:"source"`
	// TemplateID is the template it came from, if any.
	TemplateID string `json:"template_id,omitempty"`
	// Version is the version of the template, file or record it came from, when the source
	// numbers them (templates count from 1).
	Version int `json:"version,omitempty"`
	// Ref names the record it came from in the source's own terms: a NetBox object
	// ("dcim.device 42"), a file path in a Git checkout.
	Ref string `json:"ref,omitempty"`
	// Commit is the Git commit the definition was read at, for a Git checkout.
	Commit string `json:"commit,omitempty"`
	// Definition is the desired state as a JSON object in canonical form (see Canonical).
	Definition json.RawMessage `json:"definition"`
	// BaselineHash is HashCanonical(Definition).
	BaselineHash string `json:"baseline_hash"`
}
