package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
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

// actionRoutes serves the template card's remediation API for drifts.
// requestAction is POST /drift/events/{id}/quarantine and /release: it records an
// ActionRequested_v1 for the drift's CI (body: optional by, reason) and waits, up to ?wait
// (a duration, default WaitTimeout; 0 does not wait), for the action stage's outcome. 200
// with status succeeded or failed once it is known, 202 with status requested before; 404
// for an unknown drift, 409 to quarantine for a resolved one. The action id derives from the
// drift and the kind, so asking again for an action that succeeded answers its outcome and
// does nothing; asking again after a failure performs it again.
func (a *api) requestAction(kind drift.ActionKind) handlerFunc {
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
		if kind == drift.ActionKindQuarantine && d.Status == drift.StatusResolved {
			return conflict(fmt.Sprintf("drift event %q is resolved; there is nothing to quarantine for", id))
		}
		ctx := r.Context()
		actionID := event.ActionID(id, kind)
		answer := actionAnswer{ActionID: actionID, Kind: kind, DriftID: id, CIID: d.CIID, Status: "requested"}
		stream := event.ActionStreamPrefix + d.CIID
		done, after, err := outcome(ctx, a.Store, stream, actionID, 0)
		if err != nil {
			return err
		}
		if done != nil && done.Type == event.TypeActionSucceeded {
			return writeAnswer(w, answer, done)
		}
		// The outcome of this request comes after every event stored so far; earlier
		// failures of the action, before.
		after = max(after, a.Runner.Position())
		by := in.By
		if by == "" {
			by = "api"
		}
		rec := event.Record{
			ID: event.DeriveID("action-requested", actionID), Subject: d.CIID, Time: a.Now(),
			Fact: event.ActionRequested_v1{
				ActionID: actionID, Kind: kind, CIID: d.CIID, CIType: d.CIType, DriftID: id,
				Field: d.Field, Desired: d.Desired, RequestedBy: by, Reason: in.Reason, RequestedAt: a.Now().UTC(),
			},
		}
		if err := a.Emitter.Emit(ctx, rec); err != nil {
			return unavailable("the action could not be requested; retry", fmt.Errorf("emit %s of %s: %w", kind, d.CIID, err))
		}
		if wait == 0 {
			return writeJSON(w, http.StatusAccepted, answer)
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		done, err = awaitOutcome(wctx, a.Store, stream, actionID, after)
		if err != nil {
			return err
		}
		return writeAnswer(w, answer, done)
	}
}

// outcome reads a CI's action stream and returns the last outcome (succeeded or failed) of
// the action recorded after position after, and the position of the stream's last event.
func outcome(ctx context.Context, store eventstore.Store, stream, actionID string, after eventstore.Position) (*event.Envelope, eventstore.Position, error) {
	const page = 256
	var last *event.Envelope
	var head eventstore.Position
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return nil, 0, unavailable("the action stream could not be read; retry", err)
		}
		for _, rec := range recs {
			head = rec.Position
			if rec.Position <= after || (rec.Type != event.TypeActionSucceeded && rec.Type != event.TypeActionFailed) {
				continue
			}
			env, err := event.FromStore(rec)
			if err != nil {
				continue
			}
			if actionOf(env) == actionID {
				last = &env
			}
		}
		if len(recs) < page {
			return last, head, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// awaitOutcome waits until the action stream holds an outcome of the action after position
// after, or ctx ends (nil then).
func awaitOutcome(ctx context.Context, store eventstore.Store, stream, actionID string, after eventstore.Position) (*event.Envelope, error) {
	sub, err := store.Subscribe(ctx, after)
	if err != nil {
		return nil, unavailable("the event store could not be followed; retry", err)
	}
	for rec := range sub.Events() {
		if rec.Stream != stream || (rec.Type != event.TypeActionSucceeded && rec.Type != event.TypeActionFailed) {
			continue
		}
		if env, err := event.FromStore(rec); err == nil && actionOf(env) == actionID {
			return &env, nil
		}
	}
	return nil, nil
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
