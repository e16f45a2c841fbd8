package ingest

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/router"
)

// rememberedRejections bounds how many logged rejection ids the decorator keeps to recognise
// redeliveries.
const rememberedRejections = 4096

// Rejections decorates the ingest stage so that every observation it rejects is logged once,
// at Warn, with the claimed CI, the agent and the reason: a security event an operator should
// see. A redelivered message whose rejection was logged already is not logged again. The
// stage's result passes through unchanged. Safe for concurrent use.
type Rejections struct {
	stage router.Stage[event.ObservationSubmitted_v1]
	log   *zap.Logger

	mu     sync.Mutex
	logged map[string]bool
	order  []string
}

// LogRejections returns the decorator over stage; both are required.
func LogRejections(stage router.Stage[event.ObservationSubmitted_v1], log *zap.Logger) (*Rejections, error) {
	var errs []error
	if stage == nil {
		errs = append(errs, errors.New("stage: required"))
	}
	if log == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Rejections{stage: stage, log: log, logged: map[string]bool{}}, nil
}

// Handle implements router.Stage.
func (r *Rejections) Handle(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) ([]event.Record, error) {
	out, err := r.stage.Handle(ctx, in)
	for _, rec := range out {
		rej, ok := rec.Fact.(event.ObservationRejected_v1)
		if !ok || !r.first(rec.ID) {
			continue
		}
		r.log.Warn("Observation rejected",
			zap.String("ci_id", rej.CIID), zap.String("agent_id", rej.AgentID),
			zap.String("message_id", in.ID), zap.String("reason", string(rej.Reason)),
			zap.String("detail", rej.Detail))
	}
	return out, err
}

// first reports whether id is seen for the first time, remembering it.
func (r *Rejections) first(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logged[id] {
		return false
	}
	r.logged[id] = true
	r.order = append(r.order, id)
	if len(r.order) > rememberedRejections {
		delete(r.logged, r.order[0])
		r.order = r.order[1:]
	}
	return true
}
