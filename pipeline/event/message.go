package event

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Message is one fact with the envelope attributes handlers read and set.
type Message[F Fact] struct {
	// ID is the CloudEvents id: unique per fact, stable across redeliveries (see DeriveID).
	ID string
	// Subject is the CI id (or policy or template id) the fact is about.
	Subject string
	// Time is when the fact was produced.
	Time time.Time
	// CorrelationID follows one observation through every stage.
	CorrelationID string
	// CausationID is the id of the fact that caused this one.
	CausationID string
	Fact        F
}

// Record is a fact of any type, as handlers emit them.
type Record = Message[Fact]

// Envelope renders the message as a CloudEvent.
func (r Message[F]) Envelope() (Envelope, error) {
	data, err := json.Marshal(r.Fact)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", r.Fact.FactType(), err)
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	return Envelope{
		SpecVersion:     SpecVersion,
		ID:              r.ID,
		Source:          DefaultSource,
		Type:            r.Fact.FactType(),
		Subject:         r.Subject,
		Time:            t.UTC(),
		DataContentType: "application/json",
		Data:            data,
		CorrelationID:   r.CorrelationID,
		CausationID:     r.CausationID,
	}, nil
}

// ToMessage renders the message as a watermill message ready to publish.
func (r Message[F]) ToMessage() (*message.Message, error) {
	e, err := r.Envelope()
	if err != nil {
		return nil, err
	}
	return e.Message()
}

// Decode reads a fact of type F from an envelope, checking its type.
func Decode[F Fact](e Envelope) (Message[F], error) {
	var m Message[F]
	if want := m.Fact.FactType(); e.Type != want {
		return m, fmt.Errorf("type: %q, want %q", e.Type, want)
	}
	payload, err := e.Payload()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(payload, &m.Fact); err != nil {
		return m, fmt.Errorf("data of %s: %w", e.Type, err)
	}
	m.ID, m.Subject, m.Time = e.ID, e.Subject, e.Time
	m.CorrelationID, m.CausationID = e.CorrelationID, e.CausationID
	return m, nil
}

// DecodeMessage reads a fact of type F from a watermill message.
func DecodeMessage[F Fact](msg *message.Message) (Message[F], error) {
	return Decode[F](EnvelopeOf(msg))
}

// Erase turns a typed message into a Record.
func Erase[F Fact](m Message[F]) Record {
	return Record{ID: m.ID, Subject: m.Subject, Time: m.Time, CorrelationID: m.CorrelationID, CausationID: m.CausationID, Fact: m.Fact}
}

// StoreEvent renders the message as an event-store event and names the stream it belongs to
// ("" when facts of its type are not stored).
func (r Message[F]) StoreEvent() (eventstore.Event, string, error) {
	e, err := r.Envelope()
	if err != nil {
		return eventstore.Event{}, "", err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return eventstore.Event{}, "", fmt.Errorf("encode envelope of %s: %w", e.Type, err)
	}
	return eventstore.Event{ID: e.ID, Type: e.Type, Data: data}, StreamOf(e.Type, e.Subject), nil
}

// FromStore reads the CloudEvents envelope of a recorded event.
func FromStore(r eventstore.Recorded) (Envelope, error) {
	e, err := ParseEnvelope(r.Data)
	if err != nil {
		return Envelope{}, fmt.Errorf("event %s at position %d: %w", r.ID, r.Position, err)
	}
	return e, nil
}
