package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// ackRequest is the optional body of an acknowledgement.
type ackRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
}

// acknowledge is POST /drift/events/{id}/acknowledge. The acknowledgement command decides on
// the CI's drift ledger; the handler publishes the acknowledgement and answers with the drift
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
	rec, err := a.Acknowledgements.Acknowledge(ctx, d.CIID, id, in.By, in.Comment)
	if err != nil {
		return commandError(err)
	}
	// Publishing again when it was acknowledged before heals a publish that failed after
	// the commit; the append is a no-op by id and consumers drop the copy.
	if err := a.Emitter.Emit(ctx, rec); err != nil {
		return unavailable("the acknowledgement is recorded but could not be published; retry", err)
	}
	if err := a.waitFor(ctx, rec.Position); err != nil {
		return err
	}
	if d, _, err = a.Drifts.Get(id); err != nil {
		return fmt.Errorf("get drift %s: %w", id, err)
	}
	return writeJSON(w, http.StatusOK, d)
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
