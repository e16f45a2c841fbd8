package api

import (
	"context"
	"fmt"
	"net/http"
)

// Sweep is what a reconcile did: how many CIs were compared, and how many were sent to be
// judged again.
type Sweep struct {
	ReconcileID string `json:"reconcile_id"`
	CIs         int    `json:"cis"`
	Requested   int    `json:"requested"`
}

// Reconciler sweeps every CI against its current desired state and policy.
type Reconciler interface {
	Reconcile(ctx context.Context, reason string) (cis, requested int, err error)
}

// reconcile is POST /drift/reconcile: SPEC-080's on-demand sweep, in place. Each CI's stored
// state, and the desired state and policy it was last judged on, are compared with the
// current ones; only CIs that were not judged on exactly these are evaluated again. 202 once
// the requests are recorded; an unchanged fleet appends nothing.
func (a *api) reconcile(w http.ResponseWriter, r *http.Request) error {
	id := a.NewID()
	cis, requested, err := a.Reconciler.Reconcile(r.Context(), "reconcile "+id)
	if err != nil {
		return unavailable(fmt.Sprintf("reconcile %s stopped after %d requests; retry", id, requested), err)
	}
	return writeJSON(w, http.StatusAccepted, Sweep{ReconcileID: id, CIs: cis, Requested: requested})
}
