package drift

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ActionKind is one concrete remediation operation on a CI, as an executor performs it. A
// policy's ActionType says what to do about a drift; the action stage turns it into kinds
// (quarantine stays quarantine; auto_correct of a power state becomes start or stop).
type ActionKind string

// Action kinds.
const (
	// ActionKindQuarantine isolates a CI: it keeps only a quarantine network and records the
	// networks it had.
	ActionKindQuarantine ActionKind = "quarantine"
	// ActionKindRelease undoes a quarantine: it restores the recorded networks.
	ActionKindRelease ActionKind = "release"
	// ActionKindStart brings a stopped or paused CI to running.
	ActionKindStart ActionKind = "start"
	// ActionKindStop brings a running or paused CI to stopped.
	ActionKindStop ActionKind = "stop"
	// ActionKindPlaybook runs an allowlisted remediation playbook with ansible-runner.
	ActionKindPlaybook ActionKind = "playbook"
	// ActionKindScript runs an allowlisted remediation script (the card's auto_correct
	// script).
	ActionKindScript ActionKind = "script"
	// ActionKindChangeRequest opens the drift's ITSM change request (auto_change_request,
	// or the card's manual_review), found again by the drift's id.
	ActionKindChangeRequest ActionKind = "change_request"
	// ActionKindIncident opens the drift's incident when it escalates: still drifted after
	// its remediation attempts.
	ActionKindIncident ActionKind = "incident"
	// ActionKindTicketUpdate adds a work note to one of the drift's tickets (an escalation).
	ActionKindTicketUpdate ActionKind = "ticket_update"
	// ActionKindTicketClose closes one of the drift's tickets when the drift resolves.
	ActionKindTicketClose ActionKind = "ticket_close"
)

// ActionKinds lists every action kind.
var ActionKinds = []ActionKind{
	ActionKindQuarantine, ActionKindRelease, ActionKindStart, ActionKindStop, ActionKindPlaybook,
	ActionKindScript, ActionKindChangeRequest, ActionKindIncident, ActionKindTicketUpdate, ActionKindTicketClose,
}

// Valid reports whether k is a known action kind.
func (k ActionKind) Valid() bool {
	for _, x := range ActionKinds {
		if k == x {
			return true
		}
	}
	return false
}

// Remediates reports whether k changes the CI to remediate a drift (start, stop, playbook,
// script); quarantine isolates it, and ticket kinds only record.
func (k ActionKind) Remediates() bool {
	switch k {
	case ActionKindStart, ActionKindStop, ActionKindPlaybook, ActionKindScript:
		return true
	}
	return false
}

// Ticket reports whether k is an ITSM ticket operation.
func (k ActionKind) Ticket() bool {
	switch k {
	case ActionKindChangeRequest, ActionKindIncident, ActionKindTicketUpdate, ActionKindTicketClose:
		return true
	}
	return false
}

// Power states a source reports in a CI's "power_state" field.
const (
	PowerRunning = "running"
	PowerStopped = "stopped"
	PowerPaused  = "paused"
	// PowerRemoved is reported for a CI whose resource was deleted.
	PowerRemoved = "removed"
)

// FieldWhole is the field of a finding about a CI as a whole rather than one of its fields:
// an unmanaged CI, one that a source reports but that has no desired state.
const FieldWhole = ""

// Remedy is what a drift's policy says about remediating it.
type Remedy struct {
	ActionType ActionType
	// Script is the policy's script: a playbook id with AutoRemediate, else a script id.
	Script        string
	AutoRemediate bool
	Field         string
	Desired       json.RawMessage
}

// Remediation returns the action kind that remediates a drift on field whose desired value
// is desired, under a policy's action type t, for a policy without a script (see
// Remedy.Remediation).
func Remediation(t ActionType, field string, desired json.RawMessage) (ActionKind, error) {
	return Remedy{ActionType: t, Field: field, Desired: desired}.Remediation()
}

// Remediation returns the action kind that remediates the drift: quarantine is a
// quarantine; auto_correct with a script is a playbook run (auto_remediate: SPEC-080's
// ansible-runner remediation, the script naming the playbook) or else a run of the card's
// script; auto_correct without one, of the power_state field, is a start (desired
// "running") or a stop (desired "stopped"). For any other drift the error says why there is
// no remediation.
func (r Remedy) Remediation() (ActionKind, error) {
	t, field, desired := r.ActionType, r.Field, r.Desired
	switch t {
	case ActionQuarantine:
		return ActionKindQuarantine, nil
	case ActionAutoCorrect:
		if r.Script != "" {
			if r.AutoRemediate {
				return ActionKindPlaybook, nil
			}
			return ActionKindScript, nil
		}
		if field != "/power_state" {
			return "", fmt.Errorf("auto_correct can correct only /power_state, not %q", field)
		}
		var want string
		if json.Unmarshal(desired, &want) != nil {
			return "", fmt.Errorf("the desired power state %s is not a string", desired)
		}
		switch want {
		case PowerRunning:
			return ActionKindStart, nil
		case PowerStopped:
			return ActionKindStop, nil
		}
		return "", fmt.Errorf("auto_correct can start or stop, not bring the power state to %q", want)
	case "", ActionNone:
		return "", errors.New("its policy asks for no action (action_type none)")
	}
	return "", fmt.Errorf("action_type %s has no automatic remediation", t)
}
