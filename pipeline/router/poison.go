package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// poisonQueue parks what cannot be processed on topic.Poison, with its reason, and acks it so
// that the subscription keeps going: malformed entries (flagged by the bus adapter) without
// calling the handler, and messages whose handler failed permanently or ran out of retries.
// Cancellation at shutdown is not poison: the message is nacked and redelivered later.
type poisonQueue struct {
	pub message.Publisher
	log *zap.Logger
}

func (p poisonQueue) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if reason := msg.Metadata.Get(bus.MetaMalformed); reason != "" {
			return nil, p.park(msg, reason, json.RawMessage(msg.Payload))
		}
		out, err := h(msg)
		if err == nil {
			return out, nil
		}
		if errors.Is(err, context.Canceled) || msg.Context().Err() != nil {
			return nil, err
		}
		original, mErr := json.Marshal(event.EnvelopeOf(msg))
		if mErr != nil {
			original = nil
		}
		return nil, p.park(msg, err.Error(), original)
	}
}

// park publishes the poison record; if that fails too, the message is nacked.
func (p poisonQueue) park(msg *message.Message, reason string, original json.RawMessage) error {
	handler := message.HandlerNameFromCtx(msg.Context())
	from := message.SubscribeTopicFromCtx(msg.Context())
	if !json.Valid(original) {
		original, _ = json.Marshal(string(original))
	}
	rec := event.Record{
		ID:      event.DeriveID("poison", handler, msg.UUID),
		Subject: msg.Metadata.Get(event.MetaSubject),
		Fact:    event.Poison_v1{Reason: reason, Handler: handler, Topic: from, ID: msg.UUID, Original: original},
	}
	out, err := rec.ToMessage()
	if err != nil {
		return err
	}
	if err := p.pub.Publish(topic.Poison, out); err != nil {
		return fmt.Errorf("park message %s in poison stream: %w", msg.UUID, err)
	}
	p.log.Warn("Message parked in poison stream", zap.String("stage", handler),
		zap.String("message_id", msg.UUID), zap.String("reason", reason))
	return nil
}
