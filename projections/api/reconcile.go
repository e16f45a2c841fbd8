package api

import (
	"fmt"
	"net/http"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

// reconcileBatch is how many observations one Emit call carries.
const reconcileBatch = 100

// reconciled is the answer to POST /drift/reconcile.
type reconciled struct {
	ReconcileID string `json:"reconcile_id"`
	CIs         int    `json:"cis"`
}

// reconcile is POST /drift/reconcile: SPEC-080's on-demand sweep. Every CI the drift read
// model knows with an observed state is submitted again (source "reconcile"), so that the
// pipeline checks its last observed state against the current desired state. 202 once every
// observation is on the bus; 503 when some could not be.
func (a *api) reconcile(w http.ResponseWriter, r *http.Request) error {
	cis, err := a.Drifts.CIs()
	if err != nil {
		return fmt.Errorf("list cis: %w", err)
	}
	runID := a.NewID()
	now := a.Now()
	var batch []event.Record
	sent := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := a.Emitter.Emit(r.Context(), batch...); err != nil {
			return unavailable(fmt.Sprintf("reconcile %s stopped after %d CIs; retry", runID, sent), err)
		}
		sent += len(batch)
		batch = batch[:0]
		return nil
	}
	for _, ci := range cis {
		if len(ci.State) == 0 {
			continue
		}
		id := event.DeriveID("reconcile", runID, ci.CIID)
		var obs event.ObservationSubmitted_v1
		obs.ID, obs.CIID, obs.CIType, obs.TemplateID = id, ci.CIID, ci.CIType, ci.TemplateID
		obs.Source, obs.ObservedAt, obs.State, obs.StateHash = "reconcile", ci.LastObservedAt, ci.State, ci.StateHash
		batch = append(batch, event.Record{ID: id, Subject: ci.CIID, Time: now, CorrelationID: runID, Fact: obs})
		if len(batch) == reconcileBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, reconciled{ReconcileID: runID, CIs: sent})
}
