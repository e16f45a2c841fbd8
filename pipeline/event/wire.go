package event

import (
	"bytes"
	"encoding/base64"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Wire renders a watermill message for a wire that must give back its UUID, metadata and
// payload exactly (a Redis stream entry, the embedded bus's stored messages): the envelope,
// with the payload as data when it is JSON that survives as it is and as data_base64
// otherwise, and the metadata that decoding the envelope alone would not give back (nil when
// there is none).
func Wire(msg *message.Message) (Envelope, map[string]string) {
	env := EnvelopeOf(msg)
	if env.Data != nil && !bytes.Equal(env.Data, msg.Payload) {
		// Compacting changed the payload: carry the original bytes so they round-trip.
		env.Data = nil
		env.DataBase64 = base64.StdEncoding.EncodeToString(msg.Payload)
		env.DataContentType = "application/octet-stream"
	}
	probe := env
	probe.Data, probe.DataBase64 = nil, ""
	back, _ := probe.Message() // without data nothing can fail
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
	// Metadata the envelope adds that the message did not have is dropped on the way back.
	for k := range back.Metadata {
		if _, ok := msg.Metadata[k]; !ok {
			if extra == nil {
				extra = make(map[string]string)
			}
			extra[k] = dropMarker
		}
	}
	return env, extra
}

// dropMarker in wire metadata says that a key the envelope implies was not set on the message.
const dropMarker = "\x00drop"

// MessageWith is the inverse of Wire: the envelope as a message, with the wire's extra
// metadata applied.
func (e Envelope) MessageWith(extra map[string]string) (*message.Message, error) {
	msg, err := e.Message()
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		if v == dropMarker {
			delete(msg.Metadata, k)
			continue
		}
		msg.Metadata.Set(k, v)
	}
	return msg, nil
}
