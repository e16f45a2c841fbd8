package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// SpecVersion is the CloudEvents version of every envelope.
const SpecVersion = "1.0"

// DefaultSource is the CloudEvents source of facts driftwatch produces.
const DefaultSource = "driftwatch"

// Message metadata keys that carry CloudEvents attributes and tracing through watermill.
const (
	MetaType          = "ce_type"
	MetaSource        = "ce_source"
	MetaSubject       = "ce_subject"
	MetaTime          = "ce_time"
	MetaCorrelationID = "correlation_id"
	MetaCausationID   = "causation_id"
	// MetaPosition carries the event-store position of a message's fact (decimal), so that a
	// stage can wait for a read model to reach it before deciding.
	MetaPosition = "driftwatch_position"
)

// Envelope is a CloudEvents 1.0 event in structured JSON mode: the form every fact has on the
// bus and in the event store. CorrelationID and CausationID are extension attributes.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      string          `json:"data_base64,omitempty"`
	CorrelationID   string          `json:"correlationid,omitempty"`
	CausationID     string          `json:"causationid,omitempty"`
	// StorePosition is the fact's position in driftwatch's event store, when it was recorded
	// before it was published (an extension attribute; 0 and absent otherwise).
	StorePosition uint64 `json:"storeposition,omitempty,string"`
	// Metadata is the JSON object of message metadata that no attribute carries, on wires
	// that keep whole messages in the envelope (the embedded bus's stored messages); an
	// extension attribute, empty otherwise.
	Metadata string `json:"dwmetadata,omitempty"`
}

// Validate reports every missing or wrong attribute at once.
func (e Envelope) Validate() error {
	var errs []error
	if e.SpecVersion != SpecVersion {
		errs = append(errs, fmt.Errorf("specversion: %q, want %q", e.SpecVersion, SpecVersion))
	}
	if e.ID == "" {
		errs = append(errs, errors.New("id: required"))
	}
	if e.Source == "" {
		errs = append(errs, errors.New("source: required"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("type: required"))
	}
	if len(e.Data) > 0 && e.DataBase64 != "" {
		errs = append(errs, errors.New("data and data_base64: only one may be set"))
	}
	return errors.Join(errs...)
}

// Payload returns the event data as bytes, decoding data_base64 when that carries it.
func (e Envelope) Payload() ([]byte, error) {
	if e.DataBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(e.DataBase64)
		if err != nil {
			return nil, fmt.Errorf("data_base64: %w", err)
		}
		return b, nil
	}
	return e.Data, nil
}

// ParseEnvelope decodes and validates a structured-mode CloudEvent.
func ParseEnvelope(raw []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return Envelope{}, fmt.Errorf("not a CloudEvents JSON document: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, fmt.Errorf("invalid CloudEvent: %w", err)
	}
	return e, nil
}

// EnvelopeOf renders a watermill message as a CloudEvent. CloudEvents attributes come from the
// message metadata (MetaType and friends); a message without them, published by foreign code,
// gets type "io.driftwatch.message" and the default source. A JSON payload travels as data,
// anything else as data_base64.
func EnvelopeOf(msg *message.Message) Envelope {
	e := Envelope{
		SpecVersion:   SpecVersion,
		ID:            msg.UUID,
		Source:        msg.Metadata.Get(MetaSource),
		Type:          msg.Metadata.Get(MetaType),
		Subject:       msg.Metadata.Get(MetaSubject),
		CorrelationID: msg.Metadata.Get(MetaCorrelationID),
		CausationID:   msg.Metadata.Get(MetaCausationID),
		StorePosition: uint64(PositionOf(msg)),
	}
	if e.Source == "" {
		e.Source = DefaultSource
	}
	if e.Type == "" {
		e.Type = "io.driftwatch.message"
	}
	if t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetaTime)); err == nil {
		e.Time = t
	} else {
		e.Time = time.Now().UTC()
	}
	switch {
	case len(msg.Payload) > 0 && Known(e.Type):
		// A registered fact: driftwatch encoded its payload, or decoded it from a checked
		// envelope; it is compact JSON, and checking it again is what the hot path must not do.
		e.DataContentType = "application/json"
		e.Data = json.RawMessage(msg.Payload)
	case len(msg.Payload) > 0 && json.Valid(msg.Payload):
		e.DataContentType = "application/json"
		e.Data = compact(msg.Payload)
	case len(msg.Payload) > 0:
		e.DataContentType = "application/octet-stream"
		e.DataBase64 = base64.StdEncoding.EncodeToString(msg.Payload)
	}
	return e
}

// compact keeps JSON data on one line so that stream entries stay readable in redis-cli.
func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// Message turns the envelope back into a watermill message: the inverse of EnvelopeOf.
func (e Envelope) Message() (*message.Message, error) {
	payload, err := e.Payload()
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(e.ID, payload)
	msg.Metadata.Set(MetaType, e.Type)
	msg.Metadata.Set(MetaSource, e.Source)
	msg.Metadata.Set(MetaTime, e.Time.UTC().Format(time.RFC3339Nano))
	if e.Subject != "" {
		msg.Metadata.Set(MetaSubject, e.Subject)
	}
	if e.CorrelationID != "" {
		msg.Metadata.Set(MetaCorrelationID, e.CorrelationID)
	}
	if e.CausationID != "" {
		msg.Metadata.Set(MetaCausationID, e.CausationID)
	}
	SetPosition(msg, eventstore.Position(e.StorePosition))
	return msg, nil
}

// JSON renders the envelope as structured-mode CloudEvents JSON, writing Data as it is.
func (e Envelope) JSON() []byte { return appendEnvelope(make([]byte, 0, len(e.Data)+256), e) }
