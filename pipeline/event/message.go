package event

import (
	"encoding/json"
	"fmt"
	"strconv"
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
	// Position is where the fact is in the event store, when the message came from there or
	// was recorded before it was published; 0 when unknown.
	Position eventstore.Position
	Fact     F
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

// Encoded is a message rendered once for every wire: its envelope, and the envelope as
// structured-mode CloudEvents JSON, which is what the event store keeps.
type Encoded struct {
	Envelope Envelope
	JSON     []byte
}

// Encode renders the message once: the fact is marshalled and the envelope written around
// it, without compacting or validating what json.Marshal produced.
func (r Message[F]) Encode() (Encoded, error) {
	e, err := r.Envelope()
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{Envelope: e, JSON: appendEnvelope(make([]byte, 0, len(e.Data)+256), e)}, nil
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
	if sd, ok := any(&m.Fact).(StrictDecoder); ok {
		if err := sd.DecodeStrict(payload, true); err != nil {
			return m, fmt.Errorf("data of %s: %w", e.Type, err)
		}
	} else if err := json.Unmarshal(payload, &m.Fact); err != nil {
		return m, fmt.Errorf("data of %s: %w", e.Type, err)
	}
	m.ID, m.Subject, m.Time = e.ID, e.Subject, e.Time
	m.CorrelationID, m.CausationID = e.CorrelationID, e.CausationID
	m.Position = eventstore.Position(e.StorePosition)
	return m, nil
}

// DecodeMessage reads a fact of type F from a watermill message, with the store position the
// message carries.
func DecodeMessage[F Fact](msg *message.Message) (Message[F], error) {
	m, err := Decode[F](EnvelopeOf(msg))
	if err != nil {
		return m, err
	}
	m.Position = PositionOf(msg)
	return m, nil
}

// Erase turns a typed message into a Record.
func Erase[F Fact](m Message[F]) Record {
	return Record{ID: m.ID, Subject: m.Subject, Time: m.Time, CorrelationID: m.CorrelationID, CausationID: m.CausationID, Position: m.Position, Fact: m.Fact}
}

// PositionOf returns the store position a message carries in MetaPosition, or 0.
func PositionOf(msg *message.Message) eventstore.Position {
	p, err := strconv.ParseUint(msg.Metadata.Get(MetaPosition), 10, 64)
	if err != nil {
		return 0
	}
	return eventstore.Position(p)
}

// SetPosition records the store position of a message's fact in its metadata.
func SetPosition(msg *message.Message, pos eventstore.Position) {
	if pos > 0 {
		msg.Metadata.Set(MetaPosition, strconv.FormatUint(uint64(pos), 10))
	}
}

// StoreEvent renders the message as an event-store event and names the stream it belongs to
// ("" when facts of its type are not stored).
func (r Message[F]) StoreEvent() (eventstore.Event, string, error) {
	enc, err := r.Encode()
	if err != nil {
		return eventstore.Event{}, "", err
	}
	return enc.StoreEvent(), StreamOf(enc.Envelope.Type, enc.Envelope.Subject), nil
}

// StoreEvent is the event-store event of an encoded message.
func (e Encoded) StoreEvent() eventstore.Event {
	return eventstore.Event{ID: e.Envelope.ID, Type: e.Envelope.Type, Data: e.JSON}
}

// Message is the encoded message as a watermill message whose payload is the fact's JSON.
func (e Encoded) Message() *message.Message {
	msg, _ := e.Envelope.Message() // data is JSON, so decoding base64 cannot fail
	return msg
}

// FromStore reads the CloudEvents envelope of a recorded event, with the event's position.
func FromStore(r eventstore.Recorded) (Envelope, error) {
	e, err := ParseEnvelope(r.Data)
	if err != nil {
		return Envelope{}, fmt.Errorf("event %s at position %d: %w", r.ID, r.Position, err)
	}
	e.StorePosition = uint64(r.Position)
	return e, nil
}
