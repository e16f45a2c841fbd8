// Package record makes facts durable and visible: the Emitter appends each fact to the event
// store (once per event id) and then publishes it on its bus topic.
package record

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Emitter records facts and publishes them. It is safe for concurrent use and idempotent:
// emitting the same fact twice stores it once and publishes it again (consumers drop copies
// by id), so a message redelivered after a crash still reaches every subscriber.
type Emitter struct {
	store eventstore.Store
	pub   message.Publisher
}

// NewEmitter returns an Emitter over store and pub; both are required.
func NewEmitter(store eventstore.Store, pub message.Publisher) (*Emitter, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if pub == nil {
		errs = append(errs, errors.New("publisher: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new emitter: %w", err)
	}
	return &Emitter{store: store, pub: pub}, nil
}

// Emit appends every record to its stream, then publishes each on its topic, in order. Records
// whose type is neither stored nor published are refused.
func (e *Emitter) Emit(ctx context.Context, recs ...event.Record) error {
	msgs := make([]*message.Message, len(recs))
	for i, r := range recs {
		ev, stream, err := r.StoreEvent()
		if err != nil {
			return err
		}
		if stream == "" && event.TopicOf(ev.Type) == "" {
			return fmt.Errorf("emit %s: type is neither stored nor published", ev.Type)
		}
		if stream != "" {
			if _, err := e.store.Append(ctx, stream, eventstore.Any, ev); err != nil {
				return fmt.Errorf("record %s %s: %w", ev.Type, ev.ID, err)
			}
		}
		if msgs[i], err = r.ToMessage(); err != nil {
			return err
		}
	}
	for i, r := range recs {
		t := event.TopicOf(r.Fact.FactType())
		if t == "" {
			continue
		}
		if err := e.pub.Publish(t, msgs[i]); err != nil {
			return fmt.Errorf("publish %s %s to %s: %w", r.Fact.FactType(), r.ID, t, err)
		}
	}
	return nil
}
