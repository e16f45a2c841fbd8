// Package simulate answers what-if questions about a draft policy: over the diffs recorded in
// the event store, what would it have opened, resolved and asked to run? It decides as the
// live stages do (compare.Compare of the recorded states under the draft's monitored fields
// and ignore patterns, drift.Decide for the verdict, the emit stage's lifecycle rules, the
// planner's drift.Remediation) and records and publishes nothing. Like projections/history it
// is a query over the CIs' own streams, not a read model.
package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/compare"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Result is what a draft policy would have done.
type Result struct {
	PolicyID string `json:"policy_id"`
	// CIs counts the CIs the draft governs that have recorded diffs; Diffs the diffs judged.
	CIs   int `json:"cis"`
	Diffs int `json:"diffs"`
	// Opened, Resolved and Actions are the drifts it would have opened and resolved and the
	// actions it would have asked for, CI by CI (by id), each CI's in the order recorded.
	Opened   []Opened   `json:"opened"`
	Resolved []Resolved `json:"resolved"`
	Actions  []Action   `json:"actions"`
	// Excepted counts the diffs on which an exception suppressed a field.
	Excepted int `json:"excepted"`
}

// Opened is a drift the draft would have opened.
type Opened struct {
	CIID          string         `json:"ci_id"`
	Field         string         `json:"field"`
	ObservationID string         `json:"observation_id"`
	Severity      drift.Severity `json:"severity"`
	Category      drift.Category `json:"category"`
	DetectedAt    time.Time      `json:"detected_at"`
	DetectOnly    bool           `json:"detect_only,omitempty"`
}

// Resolved is a drift the draft would have resolved, and why.
type Resolved struct {
	CIID          string    `json:"ci_id"`
	Field         string    `json:"field"`
	ObservationID string    `json:"observation_id"`
	Reason        string    `json:"reason"`
	ResolvedAt    time.Time `json:"resolved_at"`
}

// Action is an action the draft would have asked for, and the earliest time it would have
// run (its next maintenance window; zero for at once).
type Action struct {
	CIID          string           `json:"ci_id"`
	Field         string           `json:"field"`
	ObservationID string           `json:"observation_id"`
	Kind          drift.ActionKind `json:"kind"`
	ActAfter      time.Time        `json:"act_after,omitzero"`
}

// Governs reports whether draft p, put in place of the policy of its id among others, would
// govern the CI a diff is about, as the diff stage looks its policy up (drift.Governing: by
// the diff's template, else the CI's type, narrowed by ci_ids).
func Governs(p drift.Policy, others []drift.Policy, d event.DiffComputed_v2) bool {
	ps := append(slices.DeleteFunc(slices.Clone(others), func(o drift.Policy) bool { return o.ID == p.ID }), p)
	g, ok := drift.Governing(ps, d.Observed.CIID, d.Observed.CIType, d.Desired.TemplateID)
	return ok && g.ID == p.ID
}

// readBatch is how many events one stream read returns.
const readBatch = 512

// States reads states by hash; *states.Store implements it.
type States interface {
	Get(ctx context.Context, hash string) (json.RawMessage, error)
}

// Run judges draft p (defaults filled, valid) over the recorded DiffComputed_v2 facts of the
// CIs ciIDs that it would govern in place of its id among the policies others (see
// Governs), each at the time its diff was recorded, starting from no open drift. Each diff's
// desired and observed states are compared again under p, as the diff stage would have;
// an unmanaged CI's finding stands as recorded.
//
// Cost: a read of each CI's evaluation stream, and per diff the draft governs two state
// reads (cached by states), one comparison and one decision.
func Run(ctx context.Context, store eventstore.Store, st States, ciIDs []string, p drift.Policy, others []drift.Policy) (Result, error) {
	res := Result{PolicyID: p.ID, Opened: []Opened{}, Resolved: []Resolved{}, Actions: []Action{}}
	for _, id := range slices.Sorted(slices.Values(ciIDs)) {
		diffs, err := read(ctx, store, id, p, others)
		if err != nil {
			return res, err
		}
		if len(diffs) == 0 {
			continue
		}
		res.CIs++
		l := lifecycle{open: map[string]time.Time{}, resolved: map[string]time.Time{}}
		for _, m := range diffs {
			d, err := rediff(ctx, st, m.Fact, p)
			if err != nil {
				return res, err
			}
			res.Diffs++
			l.judge(&res, d, p, m.Time)
		}
	}
	return res, nil
}

// read returns the diffs of ciID that p governs, in the order recorded.
func read(ctx context.Context, store eventstore.Store, ciID string, p drift.Policy, others []drift.Policy) ([]event.Message[event.DiffComputed_v2], error) {
	stream := event.StreamOf(event.TypeDiffComputedV2, ciID)
	var out []event.Message[event.DiffComputed_v2]
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, readBatch)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, rec := range recs {
			if rec.Type != event.TypeDiffComputedV2 {
				continue
			}
			env, err := event.FromStore(rec)
			if err != nil {
				return nil, fmt.Errorf("simulate: %s at %d: %w", stream, rec.Position, err)
			}
			m, err := event.Decode[event.DiffComputed_v2](env)
			if err != nil {
				return nil, fmt.Errorf("simulate: %s at %d: %w", stream, rec.Position, err)
			}
			if Governs(p, others, m.Fact) {
				out = append(out, m)
			}
		}
		if len(recs) < readBatch {
			return out, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// rediff compares a diff's states again under p, as the diff stage does.
func rediff(ctx context.Context, st States, d event.DiffComputed_v2, p drift.Policy) (event.DiffComputed_v2, error) {
	if d.Desired.Hash == "" {
		return d, nil // unmanaged: nothing was compared
	}
	o := d.Observed
	d.Checked, d.Drifts = compare.Checked(p, o.Scope), nil
	if o.StateHash == d.Desired.Hash {
		return d, nil
	}
	desired, err := st.Get(ctx, d.Desired.Hash)
	if err != nil {
		return d, fmt.Errorf("read desired state of %s: %w", o.CIID, err)
	}
	actual, err := st.Get(ctx, o.StateHash)
	if err != nil {
		return d, fmt.Errorf("read observed state of %s: %w", o.CIID, err)
	}
	if d.Drifts, err = compare.Compare(desired, actual, d.Checked, p.Ignore); err != nil {
		return d, fmt.Errorf("compare %s with %s: %w", o.CIID, d.Desired, err)
	}
	for i := range d.Drifts {
		d.Drifts[i].Detail = o.Details[d.Drifts[i].Field]
	}
	return d, nil
}

// lifecycle is one CI's drifts as the emit stage keeps them: when each open field's drift was
// observed, and when each field was last seen matching again.
type lifecycle struct {
	open     map[string]time.Time
	resolved map[string]time.Time
}

// judge decides one diff as the policy and emit stages and the action planner do.
func (l *lifecycle) judge(res *Result, d event.DiffComputed_v2, p drift.Policy, at time.Time) {
	o := d.Observed
	if d.Desired.Hash == "" {
		// The unmanaged finding, as the diff stage reports it.
		p.Category, p.DriftThreshold = drift.CategoryState, 1
	}
	v := drift.Decide(d.Drifts, p, at)
	if len(v.Excepted) > 0 {
		res.Excepted++
	}
	for _, field := range slices.Sorted(maps.Keys(l.open)) {
		reason := "matches the desired state"
		switch {
		case field == drift.FieldWhole:
			if slices.Contains(v.Differs, field) {
				continue
			}
			reason = "has a desired state"
		default:
			if f, checked := drift.FieldOf(field, d.Checked); !checked || f != field || slices.Contains(v.Differs, field) {
				continue
			}
			if i := slices.IndexFunc(v.Excepted, func(e drift.ExceptedField) bool { return e.Field == field }); i >= 0 {
				reason = v.Excepted[i].Resolution()
			}
		}
		if o.ObservedAt.Before(l.open[field]) {
			continue
		}
		delete(l.open, field)
		l.resolved[field] = o.ObservedAt
		res.Resolved = append(res.Resolved, Resolved{CIID: o.CIID, Field: field, ObservationID: o.ObservationID, Reason: reason, ResolvedAt: o.ObservedAt})
	}
	for _, fd := range v.Drifts {
		if _, open := l.open[fd.Field]; open {
			continue
		}
		if last, ok := l.resolved[fd.Field]; ok && o.ObservedAt.Before(last) {
			continue
		}
		l.open[fd.Field] = o.ObservedAt
		res.Opened = append(res.Opened, Opened{CIID: o.CIID, Field: fd.Field, ObservationID: o.ObservationID,
			Severity: fd.Severity, Category: fd.Category, DetectedAt: o.ObservedAt, DetectOnly: v.DetectOnly})
		if v.DetectOnly {
			continue
		}
		if kind, err := drift.Remediation(p.ActionType, fd.Field, fd.Desired); err == nil {
			res.Actions = append(res.Actions, Action{CIID: o.CIID, Field: fd.Field, ObservationID: o.ObservationID, Kind: kind, ActAfter: v.ActAfter})
		}
	}
}
