package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// streamKeepAlive is how often an idle stream sends a comment, so that proxies keep it open.
const streamKeepAlive = 15 * time.Second

// streamTypes are the drift facts the stream carries, by the event name it gives them.
var streamTypes = map[string]string{
	event.TypeDriftDetected:     "drift.detected",
	event.TypeDriftUpdated:      "drift.updated",
	event.TypeDriftAcknowledged: "drift.acknowledged",
	event.TypeDriftResolved:     "drift.resolved",
	event.TypeDriftEscalated:    "drift.escalated",
	event.TypeDriftPlanned:      "drift.planned",
}

// streamDrifts is GET /drift/events/stream: the drift facts (detected, updated, acknowledged,
// resolved, escalated, planned) as server-sent events, each sent once the read models have applied it, so that
// what it announces is readable from the API when it arrives. Each event's id is its store
// position and its data the CloudEvent; a client resumes after a position with
// Last-Event-ID or ?after=. Without either, the stream starts at what the read models have
// applied now. On the embedded default it is what `driftwatch events tail` follows.
func (a *api) streamDrifts(w http.ResponseWriter, r *http.Request) error {
	after := a.Runner.Position()
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if v == "" {
			continue
		}
		p, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return badRequest(fmt.Sprintf("after: %q is not a store position", v), InvalidParam{Name: "after", Reason: "not a store position"})
		}
		after = eventstore.Position(p)
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("stream drifts: the response writer cannot flush")
	}
	sub, err := a.Store.Subscribe(r.Context(), after)
	if err != nil {
		return unavailable("the event store cannot be followed; retry", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	keepAlive := time.NewTicker(streamKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		case rec, ok := <-sub.Events():
			if !ok {
				return nil
			}
			name, wanted := streamTypes[rec.Type]
			if !wanted {
				continue
			}
			if err := a.Runner.WaitFor(r.Context(), rec.Position); err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", rec.Position, name, rec.Data); err != nil {
				return nil
			}
			flusher.Flush()
		}
	}
}
