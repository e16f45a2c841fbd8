package router

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Stage is one pipeline step: it consumes facts of type In and returns the facts it decided,
// which the router records in the event store and publishes. Handle must be idempotent (the
// bus delivers at least once: derive output ids from the input, see event.DeriveID) and safe
// for concurrent use. It returns errors and does not log them; mark bad input fault.Permanent.
type Stage[In event.Fact] interface {
	Handle(ctx context.Context, in event.Message[In]) ([]event.Record, error)
}

// Add subscribes stage to topic in the consumer group name. The name is part of the protocol:
// it is the Redis consumer group, so renaming a stage re-reads its whole topic.
func Add[In event.Fact](r *Router, name, topic string, stage Stage[In]) error {
	sub, err := r.bus.Subscriber(name)
	if err != nil {
		return fmt.Errorf("subscribe %s to %s: %w", name, topic, err)
	}
	log := r.log.With(zap.String("stage", name))
	r.wm.AddConsumerHandler(name, topic, sub, func(msg *message.Message) error {
		in, err := event.DecodeMessage[In](msg)
		if err != nil {
			return fault.Permanent(fmt.Errorf("decode message %s from %s: %w", msg.UUID, topic, err))
		}
		out, err := stage.Handle(msg.Context(), in)
		if err != nil {
			return err
		}
		for i := range out {
			if out[i].CorrelationID == "" {
				out[i].CorrelationID = in.CorrelationID
			}
			if out[i].CausationID == "" {
				out[i].CausationID = in.ID
			}
		}
		if err := r.emitter.Emit(msg.Context(), out...); err != nil {
			return err
		}
		log.Debug("Message handled", zap.String("message_id", in.ID), zap.String("ci_id", in.Subject), zap.Int("emitted", len(out)))
		return nil
	})
	return nil
}
