// Package record makes facts durable and visible: the Emitter appends a stage's facts to the
// event store, all in one AppendMany (one transaction on the embedded store, where concurrent
// emitters share a group commit), then publishes them on their bus topics, unless the bus
// delivers them from the store itself.
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
// emitting the same fact twice stores it once; it is published again each time (consumers
// drop copies by id), so that a message redelivered after a crash still reaches every
// subscriber.
type Emitter struct {
	store eventstore.Store
	pub   message.Publisher
	feed  bool
}

// Option configures an Emitter.
type Option func(*Emitter)

// FromStore says that the bus delivers stored facts from the event store's own feed (the
// embedded bus): Emit then only appends them, and publishes nothing, since a fact's append
// is its delivery.
func FromStore() Option { return func(e *Emitter) { e.feed = true } }

// NewEmitter returns an Emitter over store and pub; both are required.
func NewEmitter(store eventstore.Store, pub message.Publisher, opts ...Option) (*Emitter, error) {
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
	e := &Emitter{store: store, pub: pub}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// Emit records and publishes recs (see EmitAt).
func (e *Emitter) Emit(ctx context.Context, recs ...event.Record) error {
	_, err := e.EmitAt(ctx, recs...)
	return err
}

// EmitAt appends every record whose type is stored and that is not stored yet (Position 0:
// a stage that appended a fact itself, with optimistic concurrency, sets its Position), all
// in one AppendMany, then publishes every record whose type has a topic, in order, carrying
// its store position. It returns the highest position of the records, for read-your-writes.
// Records whose type is neither stored nor published are refused, as are unstored ones when
// the bus follows the store.
func (e *Emitter) EmitAt(ctx context.Context, recs ...event.Record) (eventstore.Position, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	encoded := make([]event.Encoded, len(recs))
	var appends []eventstore.Append
	var appended []int // index in recs of each append
	for i, r := range recs {
		enc, err := r.Encode()
		if err != nil {
			return 0, err
		}
		encoded[i] = enc
		typ := enc.Envelope.Type
		stream := event.StreamOf(typ, enc.Envelope.Subject)
		switch {
		case stream == "" && event.TopicOf(typ) == "":
			return 0, fmt.Errorf("emit %s: type is neither stored nor published", typ)
		case stream == "" && e.feed:
			return 0, fmt.Errorf("emit %s: the bus follows the event store, and facts of this type are not stored", typ)
		case stream != "" && r.Position == 0:
			appends = append(appends, eventstore.Append{Stream: stream, Expected: eventstore.Any, Events: []eventstore.Event{enc.StoreEvent()}})
			appended = append(appended, i)
		}
	}
	if len(appends) > 0 {
		res, err := e.store.AppendMany(ctx, appends)
		if err != nil {
			return 0, fmt.Errorf("record %d facts (%s %s first): %w", len(appends), appends[0].Events[0].Type, appends[0].Events[0].ID, err)
		}
		for k, i := range appended {
			recs[i].Position = res[k].Position
		}
	}
	var top eventstore.Position
	for _, r := range recs {
		top = max(top, r.Position)
	}
	if e.feed {
		return top, nil
	}
	return top, e.publish(recs, encoded)
}

// publish sends each record with a topic, grouping consecutive records of one topic into one
// Publish call so that the bus can pipeline them.
func (e *Emitter) publish(recs []event.Record, encoded []event.Encoded) error {
	var topic string
	var batch []*message.Message
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := e.pub.Publish(topic, batch...); err != nil {
			return fmt.Errorf("publish %d messages to %s (%s first): %w", len(batch), topic, batch[0].UUID, err)
		}
		batch = batch[:0]
		return nil
	}
	for i, r := range recs {
		t := event.TopicOf(encoded[i].Envelope.Type)
		if t == "" {
			continue
		}
		if t != topic {
			if err := flush(); err != nil {
				return err
			}
			topic = t
		}
		msg := encoded[i].Message()
		event.SetPosition(msg, r.Position)
		batch = append(batch, msg)
	}
	return flush()
}
