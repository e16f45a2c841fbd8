package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// actionRequest is the optional body of a remediation request.
type actionRequest struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// actionAnswer is the answer to a remediation request: the action and, once the action stage
// performed it, its outcome.
type actionAnswer struct {
	ActionID          string           `json:"action_id"`
	Kind              drift.ActionKind `json:"kind"`
	DriftID           string           `json:"drift_id"`
	CIID              string           `json:"ci_id"`
	Status            string           `json:"status"` // requested, succeeded, failed
	Changed           bool             `json:"changed,omitempty"`
	Target            string           `json:"target,omitempty"`
	Networks          []string         `json:"networks,omitempty"`
	QuarantineNetwork string           `json:"quarantine_network,omitempty"`
	Detail            string           `json:"detail,omitempty"`
	Reason            string           `json:"reason,omitempty"`
	Retryable         bool             `json:"retryable,omitempty"`
}

// requestAction is POST /drift/events/{id}/quarantine and /release: the action command
// records an ActionRequested_v1 for the drift's CI (body: optional by, reason), the handler
// publishes it and waits, up to ?wait (a duration, default WaitTimeout; 0 does not wait), for
// the action stage's outcome. 200 with status succeeded or failed once it is known, 202 with
// status requested before; 404 for an unknown drift, 409 to quarantine for a resolved one.
// The action id derives from the drift and the kind, so asking again for an action that
// succeeded answers its outcome and does nothing; asking again after a failure performs it
// again.
func (a *api) requestAction(kind drift.ActionKind) handlerFunc {
	return a.action(func(ctx context.Context, d drifts.Drift, in actionRequest) (event.Record, *event.Envelope, error) {
		return a.Actions.Request(ctx, d.CIID, d.ID, kind, in.By, in.Reason)
	})
}

// remediate is POST /drift/events/{id}/remediate: as requestAction, with the action the
// drift's policy names (quarantine; auto_correct of a power state is start or stop); 409 for a
// resolved drift and for one that has no remediation, saying why.
func (a *api) remediate(w http.ResponseWriter, r *http.Request) error {
	return a.action(func(ctx context.Context, d drifts.Drift, in actionRequest) (event.Record, *event.Envelope, error) {
		return a.Actions.Remediate(ctx, d.CIID, d.ID, in.By, in.Reason)
	})(w, r)
}

// action serves a request for an action on the CI of drift {id}, which ask records.
func (a *api) action(ask func(context.Context, drifts.Drift, actionRequest) (event.Record, *event.Envelope, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var in actionRequest
		if err := decodeOptional(r, &in); err != nil {
			return err
		}
		wait := a.cfg.WaitTimeout
		if s := r.URL.Query().Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return badRequest("wait: must be a duration such as 5s", InvalidParam{Name: "wait", Reason: "not a non-negative duration"})
			}
			wait = min(d, a.cfg.WaitTimeout)
		}
		d, ok, err := a.Drifts.Get(id)
		if err != nil {
			return fmt.Errorf("get drift %s: %w", id, err)
		}
		if !ok {
			return notFound("drift event", id)
		}
		ctx := r.Context()
		rec, done, err := ask(ctx, d, in)
		if err != nil {
			return commandError(err)
		}
		req, _ := rec.Fact.(event.ActionRequested_v1)
		answer := actionAnswer{ActionID: req.ActionID, Kind: req.Kind, DriftID: id, CIID: d.CIID, Status: "requested"}
		if done != nil {
			return writeAnswer(w, answer, done)
		}
		// Publishing a request recorded before heals a publish that failed after it was
		// recorded; the append is a no-op by id.
		if err := a.Emitter.Emit(ctx, rec); err != nil {
			return unavailable("the action could not be requested; retry", fmt.Errorf("emit %s of %s: %w", req.Kind, d.CIID, err))
		}
		if wait == 0 {
			return writeJSON(w, http.StatusAccepted, answer)
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		done, err = a.awaitOutcome(wctx, event.ActionStreamPrefix+d.CIID, req.ActionID, rec.Position)
		if err != nil {
			return err
		}
		return writeAnswer(w, answer, done)
	}
}

// awaitOutcome waits, on the API's one watch of the store, until the action stream holds an
// outcome of the action after position after, or ctx ends (nil then).
func (a *api) awaitOutcome(ctx context.Context, stream, actionID string, after eventstore.Position) (*event.Envelope, error) {
	rec, err := a.watch.Await(ctx, stream, after, func(rec eventstore.Recorded) bool {
		if rec.Type != event.TypeActionSucceeded && rec.Type != event.TypeActionFailed {
			return false
		}
		env, err := event.FromStore(rec)
		return err == nil && actionOf(env) == actionID
	})
	if ctx.Err() != nil {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("the action stream could not be read; retry", err)
	}
	env, err := event.FromStore(rec)
	if err != nil {
		return nil, fmt.Errorf("read outcome of action %s: %w", actionID, err)
	}
	return &env, nil
}

func actionOf(env event.Envelope) string {
	if m, err := event.Decode[event.ActionSucceeded_v1](env); err == nil {
		return m.Fact.ActionID
	}
	if m, err := event.Decode[event.ActionFailed_v1](env); err == nil {
		return m.Fact.ActionID
	}
	return ""
}

// writeAnswer answers 202 without an outcome, 200 with it.
func writeAnswer(w http.ResponseWriter, a actionAnswer, done *event.Envelope) error {
	if done == nil {
		return writeJSON(w, http.StatusAccepted, a)
	}
	if m, err := event.Decode[event.ActionSucceeded_v1](*done); err == nil {
		f := m.Fact
		a.Status, a.Changed, a.Target, a.Networks, a.QuarantineNetwork, a.Detail = "succeeded", f.Changed, f.Target, f.Networks, f.QuarantineNetwork, f.Detail
	} else if m, err := event.Decode[event.ActionFailed_v1](*done); err == nil {
		a.Status, a.Reason, a.Retryable = "failed", m.Fact.Reason, m.Fact.Retryable
	}
	return writeJSON(w, http.StatusOK, a)
}
