package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
)

// Actions asks the action stage for remediation actions on the CI of a drift. It decides on
// the CI's drift ledger (does the drift exist, is it resolved, what does its policy ask for)
// and on the CI's action stream (action-<ci>), where it appends the request at the revision
// it decided on. The action id derives from the drift and the kind (event.ActionID): asking
// again for an action that succeeded answers that outcome and asks for nothing; asking while
// a request waits for its outcome returns that request; asking after a failure asks again.
// It is safe for concurrent use.
type Actions struct {
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Request asks for kind on the CI ciID of drift driftID, for by ("api" when empty) and
// reason. It returns the ActionRequested_v1 that stands for the request, with its position
// (the outcome comes after it), and the ActionSucceeded_v1 already recorded for it, if any
// (the request is not new then). An unknown drift is
// fault.ErrNotFound; a quarantine for a resolved drift is fault.ErrConflict.
func (c Actions) Request(ctx context.Context, ciID, driftID string, kind drift.ActionKind, by, reason string) (event.Record, *event.Envelope, error) {
	return c.ask(ctx, ask{ciID, driftID, by, reason}, func(d ledger.Drift) (drift.ActionKind, error) {
		if kind == drift.ActionKindQuarantine && d.Status == drift.StatusResolved {
			return "", fmt.Errorf("drift event %q is resolved; there is nothing to quarantine for: %w", driftID, fault.ErrConflict)
		}
		return kind, nil
	})
}

// Remediate is Request of the remediation the drift's policy names (see drift.Remedy): the
// kind follows from its action_type, script, auto_remediate, field and desired value. A
// resolved drift, a drift of a detect-only policy (driftwatch never acts on those, whoever
// asks) and one for which no remediation exists are fault.ErrConflict saying why; an
// unknown drift is fault.ErrNotFound.
func (c Actions) Remediate(ctx context.Context, ciID, driftID, by, reason string) (event.Record, *event.Envelope, error) {
	a := ask{ciID, driftID, by, reason}
	return c.ask(ctx, a, func(d ledger.Drift) (drift.ActionKind, error) {
		if d.Status == drift.StatusResolved {
			return "", fmt.Errorf("drift event %q is resolved; there is nothing to remediate: %w", a.DriftID, fault.ErrConflict)
		}
		f := d.Detected
		if f.DetectOnly {
			return "", fmt.Errorf("drift event %q is under policy %q, which is detect-only: driftwatch does not act on its drifts; change the policy's mode to remediate: %w", a.DriftID, f.PolicyID, fault.ErrConflict)
		}
		kind, err := drift.Remedy{ActionType: f.ActionType, Script: f.Script, AutoRemediate: f.AutoRemediate, Field: f.Field, Desired: f.Desired}.Remediation()
		if err != nil {
			return "", fmt.Errorf("drift event %q has no remediation: %v (policy %q): %w", a.DriftID, err, f.PolicyID, fault.ErrConflict)
		}
		return kind, nil
	})
}

// ask is one request for an action on the CI of a drift.
type ask struct{ CIID, DriftID, By, Reason string }

func (c Actions) ask(ctx context.Context, a ask, choose func(ledger.Drift) (drift.ActionKind, error)) (event.Record, *event.Envelope, error) {
	l, err := ledger.Load(ctx, c.Store, a.CIID)
	if err != nil {
		return event.Record{}, nil, fmt.Errorf("read the drift ledger of %s: %w", a.CIID, err)
	}
	d, ok := l.Get(a.DriftID)
	if !ok {
		return event.Record{}, nil, fmt.Errorf("drift event %q: %w", a.DriftID, fault.ErrNotFound)
	}
	kind, err := choose(d)
	if err != nil {
		return event.Record{}, nil, err
	}
	if !kind.Valid() {
		return event.Record{}, nil, fault.Invalid("action request", fmt.Errorf("kind: %q is not an action kind", kind))
	}
	by := a.By
	if by == "" {
		by = "api"
	}
	f := d.Detected
	req := event.ActionRequested_v1{
		ActionID: event.ActionID(a.DriftID, kind), Kind: kind, CIID: a.CIID, CIType: f.CIType, DriftID: a.DriftID,
		Field: f.Field, Desired: f.Desired, RequestedBy: by, Reason: a.Reason,
	}
	if kind == drift.ActionKindPlaybook || kind == drift.ActionKindScript {
		req.Target = f.Script
	}
	for attempt := 0; ; attempt++ {
		rec, done, err := c.request(ctx, req)
		if !errors.Is(err, eventstore.ErrWrongRevision) {
			return rec, done, err
		}
		if attempt == retries {
			return event.Record{}, nil, fmt.Errorf("the actions of CI %q kept changing; retry: %w", a.CIID, fault.ErrConflict)
		}
	}
}

// request decides on the CI's action stream: answer a success, return the pending request,
// or append a new one.
func (c Actions) request(ctx context.Context, req event.ActionRequested_v1) (event.Record, *event.Envelope, error) {
	stream := event.ActionStreamPrefix + req.CIID
	h, err := readActions(ctx, c.Store, stream, req.ActionID)
	if err != nil {
		return event.Record{}, nil, err
	}
	if h.succeeded != nil {
		return event.Record{Subject: req.CIID, Position: h.succeeded.position, Fact: req}, &h.succeeded.env, nil
	}
	if h.pending != nil {
		m, err := event.Decode[event.ActionRequested_v1](h.pending.env)
		if err != nil {
			return event.Record{}, nil, fmt.Errorf("read request of action %s: %w", req.ActionID, err)
		}
		m.Position = h.pending.position
		return event.Erase(m), nil, nil
	}
	now := nowOf(c.Now)
	req.RequestedAt = now
	// The first request has the id the action planner gives it; each one after a failure is
	// a new one, keyed by the stream's revision it was decided on.
	id := event.DeriveID("action-requested", req.ActionID)
	if h.requests > 0 {
		id = event.DeriveID("action-requested", req.ActionID, strconv.FormatInt(int64(h.expected), 10))
	}
	rec := event.Record{ID: id, Subject: req.CIID, Time: now, Fact: req}
	ev, _, err := rec.StoreEvent()
	if err != nil {
		return event.Record{}, nil, err
	}
	res, err := c.Store.Append(ctx, stream, h.expected, ev)
	if err != nil {
		return event.Record{}, nil, fmt.Errorf("request %s of %s: %w", req.Kind, req.CIID, err)
	}
	rec.Position = res.Position
	return rec, nil, nil
}

// stored is an event of an action stream.
type stored struct {
	env      event.Envelope
	position eventstore.Position
}

// actionHistory is what a CI's action stream says about one action.
type actionHistory struct {
	// succeeded is its last success; pending its last request when no outcome followed it.
	succeeded, pending *stored
	// requests counts its requests.
	requests int
	// expected is the revision to append at.
	expected eventstore.Revision
}

// readActions folds a CI's action stream for one action.
func readActions(ctx context.Context, store eventstore.Store, stream, actionID string) (actionHistory, error) {
	h := actionHistory{expected: eventstore.NoStream}
	const page = 256
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return h, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, rec := range recs {
			h.expected = eventstore.Exact(rec.Revision)
			env, err := event.FromStore(rec)
			if err != nil || actionOf(env) != actionID {
				continue
			}
			s := &stored{env: env, position: rec.Position}
			switch rec.Type {
			case event.TypeActionRequested:
				h.requests++
				h.pending = s
			case event.TypeActionSucceeded:
				h.succeeded, h.pending = s, nil
			case event.TypeActionFailed:
				h.pending = nil
			}
		}
		if len(recs) < page {
			return h, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// actionOf returns the action id of a requested, succeeded or failed action's envelope, or
// "" for any other.
func actionOf(env event.Envelope) string {
	switch env.Type {
	case event.TypeActionRequested:
		if m, err := event.Decode[event.ActionRequested_v1](env); err == nil {
			return m.Fact.ActionID
		}
	case event.TypeActionSucceeded:
		if m, err := event.Decode[event.ActionSucceeded_v1](env); err == nil {
			return m.Fact.ActionID
		}
	case event.TypeActionFailed:
		if m, err := event.Decode[event.ActionFailed_v1](env); err == nil {
			return m.Fact.ActionID
		}
	}
	return ""
}
