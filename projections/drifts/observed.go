package drifts

import (
	"errors"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// observation is what the model takes from ObservationReceived_v1/_v2 and
// ObservationUnchanged_v1: the CI's state by hash, and when it was seen in it.
type observation struct {
	id, ci, ciType, templateID, source, hash string
	observedAt, receivedAt                   time.Time
	changed                                  bool
}

// observed records a CI's last observed state. One older than the CI's last observation, or
// the same one again, changes nothing.
func (b model) observed(o observation) error {
	if o.ci == "" {
		return projections.Skip(errors.New("observation without ci_id"))
	}
	var ci CI
	if _, err := projections.GetJSON(b.ci, o.ci, &ci); err != nil {
		return err
	}
	if ci.LastObservationID != "" && (ci.LastObservationID == o.id || o.observedAt.Before(ci.LastObservedAt)) {
		return nil
	}
	ci.CIID = o.ci
	if o.ciType != "" {
		ci.CIType = o.ciType
	}
	if o.templateID != "" {
		ci.TemplateID = o.templateID
	}
	if o.source != "" {
		ci.Source = o.source
	}
	ci.LastObservationID = o.id
	ci.LastObservedAt, ci.LastReceivedAt = o.observedAt.UTC(), o.receivedAt.UTC()
	if o.changed || ci.StateHash == "" {
		ci.LastChangedAt = o.observedAt.UTC()
	}
	ci.StateHash = o.hash
	return b.putCI(ci)
}

// evaluated records the last verdict on a CI: the state, desired state and policy it was
// judged on.
func (b model) evaluated(v event.PolicyEvaluated_v2, pos uint64) error {
	o := v.Observed
	if o.CIID == "" {
		return projections.Skip(errors.New("verdict without ci_id"))
	}
	var ci CI
	if _, err := projections.GetJSON(b.ci, o.CIID, &ci); err != nil {
		return err
	}
	if ci.Evaluation != nil && o.ObservedAt.Before(ci.Evaluation.ObservedAt) {
		return nil
	}
	ci.CIID = o.CIID
	if ci.CIType == "" {
		ci.CIType = o.CIType
	}
	ci.Evaluation = &Evaluation{
		ObservationID: o.ObservationID, StateHash: o.StateHash, ObservedAt: o.ObservedAt.UTC(), Reevaluation: o.Reevaluation,
		Desired: v.Desired, PolicyID: v.PolicyID, PolicyVersion: v.PolicyVersion, Differs: len(v.Differs), Position: pos,
	}
	for _, e := range v.Excepted {
		if u := ci.Evaluation.ExceptedUntil; u.IsZero() || e.ExpiresAt.Before(u) {
			ci.Evaluation.ExceptedUntil = e.ExpiresAt.UTC()
		}
	}
	ci.GoverningTemplate = nil
	if v.Desired.TemplateID != "" {
		ci.GoverningTemplate = &TemplateRef{ID: v.Desired.TemplateID, Version: v.Desired.Version}
	}
	return b.putCI(ci)
}
