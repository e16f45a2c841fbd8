package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// StrictDecoder is implemented by facts that come from outside driftwatch (a submitted
// observation): they split their data at the top level (drift.SplitObject) and check each
// member strictly where it is used, instead of encoding/json's validate-then-decode, which
// reads a large state twice and accepts what later stages cannot use (a key twice, invalid
// UTF-8). unknownOK says whether members the fact does not know are ignored (a stream of
// foreign producers) or refused (the HTTP door).
type StrictDecoder interface {
	DecodeStrict(data []byte, unknownOK bool) error
}

// DecodeStrict implements StrictDecoder: every member but the state is checked strictly
// and decoded from its own small value; the state is kept as written, unread: ingest
// canonicalises it strictly (drift.CanonicalObject), or recognises its bytes as a state it
// checked before, which is the one pass a state costs. Errors name the member.
func (s *ObservationSubmitted_v1) DecodeStrict(data []byte, unknownOK bool) error {
	members, err := drift.SplitObject(data)
	if err != nil {
		return err
	}
	*s = ObservationSubmitted_v1{}
	var errs []error
	str := func(name string, v []byte, into *string) {
		if string(v) == "null" {
			return
		}
		x, err := drift.UnquoteString(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: must be a string: %w", name, err))
			return
		}
		*into = x
	}
	for _, m := range members {
		o := &s.Observation
		switch m.Key {
		case "id":
			str(m.Key, m.Value, &o.ID)
		case "ci_id":
			str(m.Key, m.Value, &o.CIID)
		case "ci_type":
			str(m.Key, m.Value, &o.CIType)
		case "template_id":
			str(m.Key, m.Value, &o.TemplateID)
		case "source":
			str(m.Key, m.Value, &o.Source)
		case "state_hash":
			str(m.Key, m.Value, &o.StateHash)
		case "agent_id":
			str(m.Key, m.Value, &o.AgentID)
		case "signature":
			str(m.Key, m.Value, &o.Signature)
		case "observed_at":
			var at string
			str(m.Key, m.Value, &at)
			if at != "" {
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					errs = append(errs, fmt.Errorf("observed_at: must be an RFC 3339 time, not %q", at))
				}
				o.ObservedAt = t
			}
		case "state":
			if string(m.Value) != "null" {
				o.State = json.RawMessage(m.Value)
			}
		case "details":
			if err := drift.CheckStrict(m.Value); err != nil {
				errs = append(errs, fmt.Errorf("details: %w", err))
			} else if err := json.Unmarshal(m.Value, &o.Details); err != nil {
				errs = append(errs, errors.New("details: must be an object of strings"))
			}
		case "scope":
			if err := drift.CheckStrict(m.Value); err != nil {
				errs = append(errs, fmt.Errorf("scope: %w", err))
			} else if err := json.Unmarshal(m.Value, &s.Scope); err != nil {
				errs = append(errs, errors.New("scope: must be an array of strings"))
			}
		default:
			if !unknownOK {
				errs = append(errs, fmt.Errorf("%s: unknown field", m.Key))
			}
		}
	}
	return errors.Join(errs...)
}

// ParseEnvelopeStrict is ParseEnvelope for an envelope from outside driftwatch (a stream
// entry anyone may XADD): its attributes are checked strictly (no key twice, valid UTF-8),
// its data is kept as written, for the fact's decoder (a StrictDecoder, or encoding/json) to
// check once. Extension attributes it does not know are ignored.
func ParseEnvelopeStrict(raw []byte) (Envelope, error) {
	members, err := drift.SplitObject(raw)
	if err != nil {
		return Envelope{}, fmt.Errorf("not a CloudEvents JSON document: %w", err)
	}
	var e Envelope
	var errs []error
	str := func(name string, v []byte, into *string) {
		x, err := drift.UnquoteString(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: must be a string: %w", name, err))
			return
		}
		*into = x
	}
	for _, m := range members {
		switch m.Key {
		case "specversion":
			str(m.Key, m.Value, &e.SpecVersion)
		case "id":
			str(m.Key, m.Value, &e.ID)
		case "source":
			str(m.Key, m.Value, &e.Source)
		case "type":
			str(m.Key, m.Value, &e.Type)
		case "subject":
			str(m.Key, m.Value, &e.Subject)
		case "datacontenttype":
			str(m.Key, m.Value, &e.DataContentType)
		case "data_base64":
			str(m.Key, m.Value, &e.DataBase64)
		case "correlationid":
			str(m.Key, m.Value, &e.CorrelationID)
		case "causationid":
			str(m.Key, m.Value, &e.CausationID)
		case "dwmetadata":
			str(m.Key, m.Value, &e.Metadata)
		case "time":
			var at string
			str(m.Key, m.Value, &at)
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				errs = append(errs, fmt.Errorf("time: must be an RFC 3339 time, not %q", at))
			}
			e.Time = t
		case "storeposition":
			var p string
			str(m.Key, m.Value, &p)
			if _, err := fmt.Sscan(p, &e.StorePosition); err != nil {
				errs = append(errs, fmt.Errorf("storeposition: %q is not a position", p))
			}
		case "data":
			e.Data = json.RawMessage(m.Value)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Envelope{}, fmt.Errorf("invalid CloudEvent: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, fmt.Errorf("invalid CloudEvent: %w", err)
	}
	return e, nil
}
