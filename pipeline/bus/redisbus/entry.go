package redisbus

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

// Stream entry field names of the wire format (see the package documentation).
const (
	// FieldEvent holds the CloudEvents 1.0 structured-mode JSON.
	FieldEvent = "event"
	// FieldMetadata holds the JSON object of metadata the event does not carry.
	FieldMetadata = "metadata"
)

// Entry is one message in wire form: the fields of one stream entry.
type Entry struct {
	// Event is the CloudEvents JSON of the message, the FieldEvent field.
	Event []byte
	// Metadata is the JSON object of the remaining metadata, the FieldMetadata field; nil
	// when the event carries all of it.
	Metadata []byte
}

// Size is the entry's size as MaxEntryBytes counts it: field names plus values.
func (e Entry) Size() int {
	n := len(FieldEvent) + len(e.Event)
	if e.Metadata != nil {
		n += len(FieldMetadata) + len(e.Metadata)
	}
	return n
}

// Values returns the entry as XADD values.
func (e Entry) Values() map[string]any {
	v := map[string]any{FieldEvent: e.Event}
	if e.Metadata != nil {
		v[FieldMetadata] = e.Metadata
	}
	return v
}

// EncodeEntry renders msg in wire form. It fails only on a message without a UUID, which
// cannot be a CloudEvent.
func EncodeEntry(msg *message.Message) (Entry, error) {
	if msg.UUID == "" {
		return Entry{}, errors.New("message has no UUID, the CloudEvent id")
	}
	env := event.EnvelopeOf(msg)
	if env.Data != nil && !bytes.Equal(env.Data, msg.Payload) {
		// Compacting changed the payload: carry the original bytes so they round-trip.
		env.Data = nil
		env.DataBase64 = base64.StdEncoding.EncodeToString(msg.Payload)
	}
	ev, err := encodeJSON(env)
	if err != nil {
		return Entry{}, fmt.Errorf("encode CloudEvent %s: %w", msg.UUID, err)
	}
	md, err := extraMetadata(msg, env)
	if err != nil {
		return Entry{}, fmt.Errorf("encode metadata of %s: %w", msg.UUID, err)
	}
	return Entry{Event: ev, Metadata: md}, nil
}

// extraMetadata returns the JSON of the metadata that decoding env alone would not give back,
// or nil when there is none.
func extraMetadata(msg *message.Message, env event.Envelope) ([]byte, error) {
	probe := env
	probe.Data, probe.DataBase64 = nil, ""
	back, err := probe.Message()
	if err != nil {
		return nil, err
	}
	var extra map[string]string
	for k, v := range msg.Metadata {
		if got, ok := back.Metadata[k]; ok && got == v {
			continue
		}
		if extra == nil {
			extra = make(map[string]string)
		}
		extra[k] = v
	}
	if extra == nil {
		return nil, nil
	}
	return encodeJSON(extra)
}

// encodeJSON marshals v without HTML escaping, which would alter JSON payload bytes.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeEntry turns stream entry fields back into a message. It never fails: an entry that
// cannot be decoded, or is larger than maxBytes (when maxBytes > 0), comes back as a message
// flagged with bus.MetaMalformed (see the package documentation).
func DecodeEntry(values map[string]any, maxBytes int) *message.Message {
	fields := make(map[string]string, len(values))
	size := 0
	for k, v := range values {
		s := stringOf(v)
		fields[k] = s
		size += len(k) + len(s)
	}
	if maxBytes > 0 && size > maxBytes {
		return Malformed(fmt.Sprintf("entry is %d bytes, over the %d-byte limit", size, maxBytes), fields)
	}
	raw, ok := fields[FieldEvent]
	if !ok {
		return Malformed(fmt.Sprintf("entry has no %q field", FieldEvent), fields)
	}
	env, err := event.ParseEnvelopeStrict([]byte(raw))
	if err != nil {
		return Malformed(FieldEvent+": "+oneLine(err), fields)
	}
	msg, err := env.Message()
	if err != nil {
		return Malformed(FieldEvent+": "+oneLine(err), fields)
	}
	if raw, ok := fields[FieldMetadata]; ok {
		var md map[string]string
		if err := json.Unmarshal([]byte(raw), &md); err != nil {
			return Malformed(FieldMetadata+": not a JSON object of strings: "+oneLine(err), fields)
		}
		if md == nil {
			return Malformed(FieldMetadata+": null, want a JSON object of strings", fields)
		}
		for k, v := range md {
			msg.Metadata.Set(k, v)
		}
	}
	return msg
}

// stringOf reads a stream value, which go-redis returns as a string.
func stringOf(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	default:
		return fmt.Sprint(v)
	}
}

// oneLine joins the lines of a joined error so the reason fits one log line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
