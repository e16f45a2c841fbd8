package drifts

import (
	"errors"
	"fmt"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// detected opens a drift, once.
func (b model) detected(f event.DriftDetected_v1) error {
	if f.DriftID == "" || f.CIID == "" {
		return projections.Skip(errors.New("drift detected without drift_id or ci_id"))
	}
	var d Drift
	if ok, err := projections.GetJSON(b.drift, f.DriftID, &d); ok || err != nil {
		return err
	}
	d = Drift{
		ID: f.DriftID, Status: drift.StatusOpen, CIID: f.CIID, CIType: f.CIType, TemplateID: f.TemplateID,
		DesiredSource: f.DesiredSource, TemplateVersion: f.TemplateVersion, PolicyVersion: f.PolicyVersion,
		PolicyID: f.PolicyID, ObservationID: f.ObservationID, Category: f.Category, Severity: f.Severity,
		Field: f.Field, Desired: f.Desired, Actual: f.Actual, FirstActual: f.Actual, Patch: f.Patch, Detail: f.Detail, ActionType: f.ActionType,
		AutoChangeRequest: f.AutoChangeRequest, AutoRemediate: f.AutoRemediate, Notify: f.Notify,
		DetectedAt: f.DetectedAt.UTC(), DetectOnly: f.DetectOnly, ActAfter: f.ActAfter.UTC(),
	}
	// Drifts recorded before their fact named the template's version: the verdict that
	// opened the drift is the CI's last one, applied just before, and names it.
	if d.TemplateVersion == 0 {
		var ci CI
		if _, err := projections.GetJSON(b.ci, f.CIID, &ci); err != nil {
			return err
		}
		if e := ci.Evaluation; e != nil && e.ObservationID == f.ObservationID && e.Desired.TemplateID == f.TemplateID {
			d.TemplateVersion = e.Desired.Version
		}
	}
	if err := b.putDrift(d); err != nil {
		return err
	}
	if err := b.addCounts(d, 1); err != nil {
		return err
	}
	if err := b.ciOpen.Put(ciOpenKey(d.CIID, d.ID), []byte(d.Severity)); err != nil {
		return err
	}
	return b.refreshCI(d.CIID, d.CIType, d.TemplateID)
}

// updated records the latest actual value of an unresolved drift; the first stays in
// FirstActual.
func (b model) updated(f event.DriftUpdated_v1) error {
	var d Drift
	ok, err := projections.GetJSON(b.drift, f.DriftID, &d)
	if err != nil {
		return err
	}
	if !ok {
		return projections.Skip(fmt.Errorf("update of unknown drift %q", f.DriftID))
	}
	if d.Status == drift.StatusResolved || f.UpdatedAt.Before(d.UpdatedAt) {
		return nil
	}
	d.Actual, d.Patch, d.UpdatedAt, d.Updates = f.Actual, f.Patch, f.UpdatedAt.UTC(), d.Updates+1
	if f.Detail != "" {
		d.Detail = f.Detail
	}
	return b.putDrift(d)
}

// acknowledged moves an open drift to acknowledged; any other status stays.
func (b model) acknowledged(f event.DriftAcknowledged_v1) error {
	var d Drift
	ok, err := projections.GetJSON(b.drift, f.DriftID, &d)
	if err != nil {
		return err
	}
	if !ok {
		return projections.Skip(fmt.Errorf("acknowledgement of unknown drift %q", f.DriftID))
	}
	if d.Status == drift.StatusResolved || !d.AcknowledgedAt.IsZero() {
		return nil
	}
	return b.change(d, func(d *Drift) {
		if d.Status == drift.StatusOpen {
			d.Status = drift.StatusAcknowledged
		}
		d.AcknowledgedAt, d.AcknowledgedBy, d.AckComment = f.AcknowledgedAt.UTC(), f.By, f.Comment
	})
}

// actionRequested moves an open or acknowledged drift to remediating when a remediation of
// it is asked for.
func (b model) actionRequested(f event.ActionRequested_v1) error {
	if f.DriftID == "" || !f.Kind.Remediates() {
		return nil
	}
	var d Drift
	if ok, err := projections.GetJSON(b.drift, f.DriftID, &d); !ok || err != nil {
		return err
	}
	if d.Status == drift.StatusResolved || d.Status == drift.StatusEscalated {
		return nil
	}
	return b.change(d, func(d *Drift) {
		d.Status = drift.StatusRemediating
		d.RemediationAttempts = max(d.RemediationAttempts, f.Attempt, 1)
	})
}

// actionSucceeded records the number of a ticket opened for the drift.
func (b model) actionSucceeded(f event.ActionSucceeded_v1) error {
	if f.DriftID == "" || f.Ticket == nil || (f.Kind != drift.ActionKindChangeRequest && f.Kind != drift.ActionKindIncident) {
		return nil
	}
	var d Drift
	if ok, err := projections.GetJSON(b.drift, f.DriftID, &d); !ok || err != nil {
		return err
	}
	if f.Kind == drift.ActionKindChangeRequest {
		d.Ticket = f.Ticket.Number
	} else {
		d.Incident = f.Ticket.Number
	}
	return b.putDrift(d)
}

// planned marks a drift planned, naming the change.
func (b model) planned(f event.DriftPlanned_v1) error {
	var d Drift
	if ok, err := projections.GetJSON(b.drift, f.DriftID, &d); !ok || err != nil {
		return err
	}
	d.Planned, d.PlannedChange = true, f.Change
	return b.putDrift(d)
}

// escalated moves an unresolved drift to escalated.
func (b model) escalated(f event.DriftEscalated_v1) error {
	var d Drift
	if ok, err := projections.GetJSON(b.drift, f.DriftID, &d); !ok || err != nil {
		return err
	}
	if d.Status == drift.StatusResolved || d.Status == drift.StatusEscalated {
		return nil
	}
	return b.change(d, func(d *Drift) {
		d.Status = drift.StatusEscalated
		d.EscalatedAt, d.EscalationReason = f.EscalatedAt.UTC(), f.Reason
	})
}

// resolved closes an unresolved drift; a resolved one stays as it is.
func (b model) resolved(f event.DriftResolved_v1) error {
	var d Drift
	ok, err := projections.GetJSON(b.drift, f.DriftID, &d)
	if err != nil {
		return err
	}
	if !ok {
		return projections.Skip(fmt.Errorf("resolution of unknown drift %q", f.DriftID))
	}
	if d.Status == drift.StatusResolved {
		return nil
	}
	err = b.change(d, func(d *Drift) {
		d.Status = drift.StatusResolved
		d.ResolvedAt, d.ResolutionReason, d.ResolvingObservationID = f.ResolvedAt.UTC(), f.Reason, f.ObservationID
	})
	if err != nil {
		return err
	}
	if err := b.ciOpen.Delete(ciOpenKey(d.CIID, d.ID)); err != nil {
		return err
	}
	return b.refreshCI(d.CIID, "", "")
}

// change applies fn to a stored drift and keeps the counts in step with its status.
func (b model) change(d Drift, fn func(*Drift)) error {
	if err := b.addCounts(d, -1); err != nil {
		return err
	}
	fn(&d)
	if err := b.addCounts(d, 1); err != nil {
		return err
	}
	return b.putDrift(d)
}

// putDrift stores a drift and its place in detection order.
func (b model) putDrift(d Drift) error {
	if err := projections.PutJSON(b.drift, d.ID, d); err != nil {
		return err
	}
	return b.order.Put(orderKey(d), orderValue(d))
}

// putCI writes a CI's record and what Coverage counts of it.
func (b model) putCI(ci CI) error {
	if err := projections.PutJSON(b.ci, ci.CIID, ci); err != nil {
		return err
	}
	return b.ciSeen.Put([]byte(ci.CIID), seenValue(ci))
}

// refreshCI recounts a CI's unresolved drifts, creating the CI from drift attributes when no
// observation introduced it.
func (b model) refreshCI(ciID, ciType, templateID string) error {
	var ci CI
	if _, err := projections.GetJSON(b.ci, ciID, &ci); err != nil {
		return err
	}
	ci.CIID = ciID
	if ci.CIType == "" {
		ci.CIType = ciType
	}
	if ci.TemplateID == "" {
		ci.TemplateID = templateID
	}
	ci.OpenDrifts, ci.WorstOpenSeverity = 0, ""
	prefix := ciOpenKey(ciID, "")
	c := b.ciOpen.Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		ci.OpenDrifts++
		if s := drift.Severity(v); ci.WorstOpenSeverity == "" || !ci.WorstOpenSeverity.AtLeast(s) {
			ci.WorstOpenSeverity = s
		}
	}
	return b.putCI(ci)
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}
