// Package streams consumes SPEC-080's input streams on Redis as a source: each entry of
// drift.file_changed, vm.power_changed, network.changed and ansible.facts_collected becomes
// one observation of its CI, admitted by ingest like any other. The entry formats are
// documented in README ("SPEC-080's input streams"); an entry that cannot be read is parked
// in the poison stream with its reason, and the others keep flowing.
package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// The input streams.
const (
	FileChanged    = "drift.file_changed"
	PowerChanged   = "vm.power_changed"
	NetworkChanged = "network.changed"
	FactsCollected = "ansible.facts_collected"
)

// Streams lists the input streams in the order they are read.
var Streams = []string{FileChanged, PowerChanged, NetworkChanged, FactsCollected}

// Source names the observations made from stream entries.
const Source = "stream"

// KindUnverified is the kind of a file the node said changed, before any full observation
// says what it now holds: a drift from any desired content until one settles it.
const KindUnverified = "unverified"

// entry is one stream entry's fields, with a JSON payload's members merged under them
// (fields win): the shell agent sends `payload` and `ci_id`, SPEC-080's producers a JSON
// object.
type entry map[string]any

// fields reads an entry: its fields, and the members of `payload` when that is a JSON object.
func fields(values map[string]any) (entry, error) {
	e := entry{}
	if raw, ok := values["payload"].(string); ok {
		var p map[string]any
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, fmt.Errorf("payload: not a JSON object: %v", err)
		}
		for k, v := range p {
			e[k] = v
		}
	}
	for k, v := range values {
		if k != "payload" {
			e[k] = v
		}
	}
	return e, nil
}

func (e entry) str(key string) string {
	s, _ := e[key].(string)
	return strings.TrimSpace(s)
}

// when is detected_at (RFC 3339) or, without one, now.
func (e entry) when(now time.Time) (time.Time, error) {
	s := e.str("detected_at")
	if s == "" {
		return now.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("detected_at: %q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// Translate turns one entry of stream (its Redis id entryID) into an observation. Entries
// that cannot be used are permanent errors naming the field.
func Translate(stream, entryID string, values map[string]any, now time.Time, facts ansible.Reader) (event.ObservationSubmitted_v1, error) {
	o, err := translate(stream, entryID, values, now, facts)
	if err != nil {
		return o, fault.Permanent(fmt.Errorf("%s entry %s: %w", stream, entryID, err))
	}
	return o, nil
}

func translate(stream, entryID string, values map[string]any, now time.Time, facts ansible.Reader) (event.ObservationSubmitted_v1, error) {
	if stream == FactsCollected {
		raw, ok := values["payload"].(string)
		if !ok {
			raw, ok = values["facts"].(string)
		}
		if !ok {
			return event.ObservationSubmitted_v1{}, errors.New("payload: required, the facts document as collect-facts.yml posts it")
		}
		o, err := facts.Observe([]byte(raw))
		if err == nil && o.ID == "" {
			o.ID = event.DeriveID("stream-entry", stream, entryID)
		}
		return o, err
	}
	e, err := fields(values)
	if err != nil {
		return event.ObservationSubmitted_v1{}, err
	}
	ci := e.str("ci_id")
	at, err := e.when(now)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if ci == "" {
		errs = append(errs, errors.New("ci_id: required"))
	}
	o := drift.Observation{ID: event.DeriveID("stream-entry", stream, entryID), CIID: ci, CIType: e.str("ci_type"),
		Source: Source, ObservedAt: at}
	var state map[string]any
	var scope string
	switch stream {
	case FileChanged:
		path := e.str("path")
		if !strings.HasPrefix(path, "/") {
			errs = append(errs, fmt.Errorf("path: %q must be an absolute path", path))
			break
		}
		ev := e.str("event")
		if ev == "" {
			ev = "changed"
		}
		state = map[string]any{"files": map[string]any{path: map[string]any{"kind": KindUnverified, "event": ev}}}
		scope = "/files/" + pointerToken(path)
		detail := fmt.Sprintf("%s reported %s (%s); its content is not verified until the next full observation", path, ev, stream)
		if d := e.str("diff"); d != "" {
			detail = d
		}
		o.Details = map[string]string{scope: detail}
		if o.CIType == "" {
			o.CIType = "node"
		}
	case PowerChanged:
		p := e.str("power_state")
		if p == "" {
			p = e.str("state")
		}
		if p == "" {
			errs = append(errs, errors.New("power_state: required"))
		}
		state, scope = map[string]any{"power_state": p}, "/power_state"
		if o.CIType == "" {
			o.CIType = "vm"
		}
	case NetworkChanged:
		nets, err := networks(e["networks"])
		if err != nil {
			errs = append(errs, err)
		}
		state, scope = map[string]any{"networks": nets}, "/networks"
		if o.CIType == "" {
			o.CIType = "vm"
		}
	default:
		errs = append(errs, fmt.Errorf("stream %q is not an input stream", stream))
	}
	if err := errors.Join(errs...); err != nil {
		return event.ObservationSubmitted_v1{}, err
	}
	raw, err := json.Marshal(state)
	if err != nil {
		return event.ObservationSubmitted_v1{}, err
	}
	o.State = raw
	return event.ObservationSubmitted_v1{Observation: o, Scope: []string{scope}}, nil
}

// networks reads a list of network names: a JSON array (in a payload, or a field holding
// one) or a comma-separated field.
func networks(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, n := range x {
			s, ok := n.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("networks[%d]: must be a network name", i)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		if strings.HasPrefix(strings.TrimSpace(x), "[") {
			var out []string
			if err := json.Unmarshal([]byte(x), &out); err != nil {
				return nil, fmt.Errorf("networks: not a JSON array of names: %v", err)
			}
			return out, nil
		}
		out := []string{}
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, errors.New("networks: required, a list of network names")
}

// pointerToken escapes a member name for a JSON Pointer (RFC 6901).
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
