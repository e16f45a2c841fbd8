package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
)

// commitRetries is how often an acknowledgement is decided again after another writer
// changed the CI's drift ledger first.
const commitRetries = 3

// ackRequest is the optional body of an acknowledgement.
type ackRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
}

// acknowledge is POST /drift/events/{id}/acknowledge. It decides on the CI's drift ledger
// (optimistic concurrency, retried), publishes the acknowledgement and answers with the drift
// once the read model shows it: 200 (also when it was acknowledged already), 404 for an
// unknown drift, 409 for a resolved one.
func (a *api) acknowledge(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in ackRequest
	if err := decodeOptional(r, &in); err != nil {
		return err
	}
	d, ok, err := a.Drifts.Get(id)
	if err != nil {
		return fmt.Errorf("get drift %s: %w", id, err)
	}
	if !ok {
		return notFound("drift event", id)
	}
	ctx := r.Context()
	if err := a.commitAck(ctx, d.CIID, id, in); err != nil {
		return err
	}
	env, pos, err := findAck(ctx, a.Store, d.CIID, id)
	if err != nil {
		return err
	}
	// Publishing again when it was acknowledged before heals a publish that failed after
	// the commit; the append is a no-op by id and consumers drop the copy.
	msg, err := event.Decode[event.DriftAcknowledged_v1](env)
	if err != nil {
		return fmt.Errorf("read acknowledgement of %s: %w", id, err)
	}
	if err := a.Emitter.Emit(ctx, event.Erase(msg)); err != nil {
		return unavailable("the acknowledgement is recorded but could not be published; retry", err)
	}
	if err := a.waitFor(ctx, pos); err != nil {
		return err
	}
	if d, _, err = a.Drifts.Get(id); err != nil {
		return fmt.Errorf("get drift %s: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, d)
}

// commitAck records the acknowledgement on the CI's drift ledger unless it is there already.
func (a *api) commitAck(ctx context.Context, ciID, id string, in ackRequest) error {
	for attempt := 0; ; attempt++ {
		l, err := ledger.Load(ctx, a.Store, ciID)
		if err != nil {
			return unavailable("the drift ledger could not be read; retry", err)
		}
		rec, ok, err := l.Acknowledge(id, in.By, in.Comment, a.Now())
		switch {
		case errors.Is(err, ledger.ErrUnknownDrift):
			return notFound("drift event", id)
		case errors.Is(err, ledger.ErrResolved):
			return conflict(fmt.Sprintf("drift event %q is resolved; only open drifts can be acknowledged", id))
		case err != nil:
			return err
		case !ok:
			return nil
		}
		err = l.Commit(ctx, a.Store, rec)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, eventstore.ErrWrongRevision) && attempt < commitRetries:
			continue
		case errors.Is(err, eventstore.ErrWrongRevision):
			return conflict(fmt.Sprintf("the drifts of CI %q kept changing; retry", ciID))
		}
		return unavailable("the acknowledgement could not be recorded; retry", err)
	}
}

// findAck returns the recorded acknowledgement of a drift and its position.
func findAck(ctx context.Context, store eventstore.Store, ciID, id string) (event.Envelope, eventstore.Position, error) {
	const page = 256
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, ledger.Stream(ciID), from, page)
		if err != nil {
			return event.Envelope{}, 0, unavailable("the drift ledger could not be read; retry", err)
		}
		for _, rec := range recs {
			if rec.Type != event.TypeDriftAcknowledged {
				continue
			}
			env, err := event.FromStore(rec)
			if err != nil {
				continue
			}
			if m, err := event.Decode[event.DriftAcknowledged_v1](env); err == nil && m.Fact.DriftID == id {
				return env, rec.Position, nil
			}
		}
		if len(recs) < page {
			return event.Envelope{}, 0, fmt.Errorf("acknowledgement of drift %s not found in %s", id, ledger.Stream(ciID))
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// waitFor waits, up to WaitTimeout, until the read models applied pos.
func (a *api) waitFor(ctx context.Context, pos eventstore.Position) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.WaitTimeout)
	defer cancel()
	if err := a.Runner.WaitFor(ctx, pos); err != nil {
		return unavailable(fmt.Sprintf("the change is recorded (position %d) but the read models have not applied it yet", pos), err)
	}
	return nil
}

// decodeOptional decodes a JSON body into v when there is one.
func decodeOptional(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if mt, err := mediaType(r); err != nil {
		return err
	} else if mt != mediaJSON {
		return unsupported(mt, mediaJSON)
	}
	return decodeJSON(data, v)
}
