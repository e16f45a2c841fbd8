package drifts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// observed records a CI's last observed state. An observation with a scope replaces only the
// top-level fields its scope names (removing those it lacks); one older than the CI's last
// observation, or the same one again, changes nothing.
func (b model) observed(f event.ObservationReceived_v1) error {
	if f.CIID == "" {
		return projections.Skip(errors.New("observation received without ci_id"))
	}
	if !drift.IsObject(f.State) {
		return projections.Skip(fmt.Errorf("observation %s of %s: state is not a JSON object", f.ObservationID, f.CIID))
	}
	var ci CI
	if _, err := projections.GetJSON(b.ci, f.CIID, &ci); err != nil {
		return err
	}
	if ci.LastObservationID != "" && (ci.LastObservationID == f.ObservationID || f.ObservedAt.Before(ci.LastObservedAt)) {
		return nil
	}
	state, hash := f.State, f.StateHash
	if len(f.Scope) > 0 && len(ci.State) > 0 {
		merged, err := mergeScope(ci.State, f.State, f.Scope)
		if err != nil {
			return projections.Skip(fmt.Errorf("observation %s of %s: %w", f.ObservationID, f.CIID, err))
		}
		state, hash = merged, ""
	}
	if hash == "" {
		h, err := drift.Hash(state)
		if err != nil {
			return projections.Skip(fmt.Errorf("observation %s of %s: %w", f.ObservationID, f.CIID, err))
		}
		hash = h
	}
	ci.CIID = f.CIID
	if f.CIType != "" {
		ci.CIType = f.CIType
	}
	if f.TemplateID != "" {
		ci.TemplateID = f.TemplateID
	}
	ci.Source, ci.LastObservationID = f.Source, f.ObservationID
	ci.LastObservedAt, ci.LastReceivedAt = f.ObservedAt.UTC(), f.ReceivedAt.UTC()
	ci.State, ci.StateHash = state, hash
	return projections.PutJSON(b.ci, f.CIID, ci)
}

// mergeScope replaces, in prev, the top-level members that scope names with those of next.
// A scope entry is a member name or a JSON pointer; a deeper pointer scopes its top-level
// member.
func mergeScope(prev, next json.RawMessage, scope []string) (json.RawMessage, error) {
	var p, n map[string]json.RawMessage
	if err := json.Unmarshal(prev, &p); err != nil {
		return nil, fmt.Errorf("previous state: %w", err)
	}
	if err := json.Unmarshal(next, &n); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if p == nil {
		p = map[string]json.RawMessage{}
	}
	for _, s := range scope {
		key := topLevel(s)
		if v, ok := n[key]; ok {
			p[key] = v
		} else {
			delete(p, key)
		}
	}
	out, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("merge scoped state: %w", err)
	}
	return out, nil
}

// topLevel returns the top-level member a scope entry names.
func topLevel(s string) string {
	if !strings.HasPrefix(s, "/") {
		return s
	}
	first, _, _ := strings.Cut(s[1:], "/")
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(first)
}
