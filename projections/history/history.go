// Package history reads one CI's facts from the event store, in the order they were
// recorded: its observations, the desired state and policy each was judged by, the drifts
// opened, changed, acknowledged and resolved, the actions asked for and how they ended, and
// rejected observations. It is a query over the CI's own streams, not a read model: it needs
// no checkpoint, and as of any moment it answers from the facts recorded by then.
package history

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Entry is one fact of a CI's history.
type Entry struct {
	// Position is the fact's place in the store's global order; Time when it was recorded.
	Position uint64    `json:"position"`
	Time     time.Time `json:"time"`
	// Type names the fact briefly ("drift.detected"); EventType is its CloudEvents type.
	Type      string `json:"type"`
	EventType string `json:"event_type"`
	Stream    string `json:"stream"`
	// Summary says in one line what happened; Detail adds evidence (a file's diff) when the
	// fact has some.
	Summary string `json:"summary"`
	Detail  string `json:"detail,omitempty"`
	// Fact is the fact as recorded.
	Fact json.RawMessage `json:"fact"`
}

// Query selects a page of a CI's history.
type Query struct {
	// AsOf, when set, leaves out what was recorded after it.
	AsOf time.Time
	// After continues a listing after this position (the previous page's Next).
	After uint64
	// Limit is the most entries returned; 200 when 0 or less.
	Limit int
}

// Page is a page of a CI's history, oldest first.
type Page struct {
	CIID  string    `json:"ci_id"`
	AsOf  time.Time `json:"as_of,omitzero"`
	Items []Entry   `json:"items"`
	// Next is the After of the next page; 0 on the last one.
	Next uint64 `json:"next,omitempty"`
}

// streams are the event-store streams that hold a CI's facts.
func streams(ciID string) []string {
	return []string{
		event.StreamOf(event.TypeObservationReceivedV2, ciID),
		event.StreamOf(event.TypePolicyEvaluatedV2, ciID),
		event.StreamOf(event.TypeDriftDetected, ciID),
		event.StreamOf(event.TypeActionRequested, ciID),
		event.StreamOf(event.TypeObservationRejected, ciID),
		event.StreamOf(event.TypeObservationReceived, ciID), // before the v2 facts
	}
}

// readBatch is how many events one stream read returns.
const readBatch = 512

// Read returns one page of ciID's history. A CI the store knows nothing of has an empty
// history.
func Read(ctx context.Context, store eventstore.Store, ciID string, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 200
	}
	page := Page{CIID: ciID, AsOf: q.AsOf, Items: []Entry{}}
	var recs []eventstore.Recorded
	for _, s := range streams(ciID) {
		got, err := readStream(ctx, store, s, q)
		if err != nil {
			return page, err
		}
		recs = append(recs, got...)
	}
	slices.SortFunc(recs, func(a, b eventstore.Recorded) int { return cmp.Compare(a.Position, b.Position) })
	if len(recs) > q.Limit {
		recs = recs[:q.Limit]
		page.Next = uint64(recs[len(recs)-1].Position)
	}
	for _, rec := range recs {
		e, err := entryOf(rec)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// readStream reads the events of one stream after q.After and recorded by q.AsOf, stopping
// once it has q.Limit+1 of them (the page needs no more from any one stream).
func readStream(ctx context.Context, store eventstore.Store, stream string, q Query) ([]eventstore.Recorded, error) {
	var out []eventstore.Recorded
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, readBatch)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, rec := range recs {
			if !q.AsOf.IsZero() && rec.RecordedAt.After(q.AsOf) {
				return out, nil
			}
			if uint64(rec.Position) > q.After {
				out = append(out, rec)
			}
		}
		if len(recs) < readBatch || len(out) > q.Limit {
			return out, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// entryOf describes one recorded fact.
func entryOf(rec eventstore.Recorded) (Entry, error) {
	env, err := event.FromStore(rec)
	if err != nil {
		return Entry{}, fmt.Errorf("history: %s at %d: %w", rec.Stream, rec.Position, err)
	}
	e := Entry{Position: uint64(rec.Position), Time: rec.RecordedAt, EventType: env.Type, Type: shortType(env.Type),
		Stream: rec.Stream, Fact: env.Data}
	e.Summary, e.Detail = describe(env)
	return e, nil
}

// shortType turns "io.driftwatch.drift.detected.v1" into "drift.detected".
func shortType(typ string) string {
	s := strings.TrimPrefix(typ, "io.driftwatch.")
	if i := strings.LastIndex(s, ".v"); i > 0 {
		s = s[:i]
	}
	return s
}

// describe renders a fact as a line for people; a fact it cannot decode is named by type.
func describe(env event.Envelope) (summary, detail string) {
	s, d, err := describeFact(env)
	if err != nil {
		return shortType(env.Type) + " (unreadable: " + err.Error() + ")", ""
	}
	return s, d
}

func describeFact(env event.Envelope) (string, string, error) {
	switch env.Type {
	case event.TypeObservationReceivedV2:
		m, err := event.Decode[event.ObservationReceived_v2](env)
		return fmt.Sprintf("observed in a new state %s (observation %s%s)", short(m.Fact.StateHash), m.Fact.ObservationID, from(m.Fact.Source)), "", err
	case event.TypeObservationReceived:
		m, err := event.Decode[event.ObservationReceived_v1](env)
		return fmt.Sprintf("observed in state %s (observation %s%s)", short(m.Fact.StateHash), m.Fact.ObservationID, from(m.Fact.Source)), "", err
	case event.TypeObservationUnchanged:
		m, err := event.Decode[event.ObservationUnchanged_v1](env)
		return fmt.Sprintf("observed unchanged in state %s (observation %s%s)", short(m.Fact.StateHash), m.Fact.ObservationID, from(m.Fact.Source)), "", err
	case event.TypeObservationRejected:
		m, err := event.Decode[event.ObservationRejected_v1](env)
		return fmt.Sprintf("observation %s rejected: %s", m.Fact.ObservationID, m.Fact.Reason), m.Fact.Detail, err
	case event.TypeEvaluationRequested:
		m, err := event.Decode[event.EvaluationRequested_v1](env)
		return fmt.Sprintf("re-evaluation of state %s requested: %s", short(m.Fact.StateHash), m.Fact.Reevaluation), "", err
	case event.TypeDesiredStateResolvedV2:
		m, err := event.Decode[event.DesiredStateResolved_v2](env)
		if err == nil && !m.Fact.Managed {
			return "no desired state: " + cmp.Or(m.Fact.Unmanaged, "unmanaged"), "", nil
		}
		return "desired state from " + m.Fact.Desired.String(), "", err
	case event.TypeDiffComputedV2:
		m, err := event.Decode[event.DiffComputed_v2](env)
		var fields []string
		for _, d := range m.Fact.Drifts {
			fields = append(fields, d.Field)
		}
		if len(fields) == 0 {
			return fmt.Sprintf("compared %d fields with %s: all match", len(m.Fact.Checked), m.Fact.Desired), "", err
		}
		return fmt.Sprintf("compared %d fields with %s: %s differ", len(m.Fact.Checked), m.Fact.Desired, strings.Join(fields, ", ")), "", err
	case event.TypePolicyEvaluatedV2:
		m, err := event.Decode[event.PolicyEvaluated_v2](env)
		f := m.Fact
		verdict := "no drift"
		if f.ThresholdMet && len(f.Drifts) > 0 {
			verdict = fmt.Sprintf("%d drifting, %s %s, action %s", len(f.Drifts), f.Severity, f.Category, f.ActionType)
		} else if f.Differing > 0 {
			verdict = fmt.Sprintf("%d differing, under the threshold of %d", f.Differing, f.DriftThreshold)
		}
		if len(f.Excepted) > 0 {
			verdict += fmt.Sprintf("; %d excepted (%s)", len(f.Excepted), f.Excepted[0].Ticket)
		}
		if f.DetectOnly {
			verdict += "; detect only"
		} else if !f.ActAfter.IsZero() && f.ThresholdMet {
			verdict += "; remediation waits until " + f.ActAfter.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("policy %s v%d judged %s: %s", f.PolicyID, f.PolicyVersion, f.Desired, verdict), "", err
	case event.TypeDriftDetected:
		m, err := event.Decode[event.DriftDetected_v1](env)
		f := m.Fact
		return fmt.Sprintf("drift %s opened on %s: desired %s, actual %s (%s %s, policy %s)", f.DriftID, f.Field, f.Desired, f.Actual, f.Severity, f.Category, f.PolicyID), f.Detail, err
	case event.TypeDriftUpdated:
		m, err := event.Decode[event.DriftUpdated_v1](env)
		return fmt.Sprintf("drift %s on %s now actual %s", m.Fact.DriftID, m.Fact.Field, m.Fact.Actual), m.Fact.Detail, err
	case event.TypeDriftAcknowledged:
		m, err := event.Decode[event.DriftAcknowledged_v1](env)
		s := fmt.Sprintf("drift %s acknowledged by %s", m.Fact.DriftID, cmp.Or(m.Fact.By, "someone"))
		if m.Fact.Comment != "" {
			s += ": " + m.Fact.Comment
		}
		return s, "", err
	case event.TypeDriftResolved:
		m, err := event.Decode[event.DriftResolved_v1](env)
		return fmt.Sprintf("drift %s on %s resolved: %s", m.Fact.DriftID, m.Fact.Field, m.Fact.Reason), "", err
	case event.TypeDriftEscalated:
		m, err := event.Decode[event.DriftEscalated_v1](env)
		return fmt.Sprintf("drift %s on %s escalated after %d remediation attempts", m.Fact.DriftID, m.Fact.Field, m.Fact.Attempts), m.Fact.Reason, err
	case event.TypeDriftPlanned:
		m, err := event.Decode[event.DriftPlanned_v1](env)
		return fmt.Sprintf("drift %s is planned: part of change %s", m.Fact.DriftID, m.Fact.Change), m.Fact.Reason, err
	case event.TypeActionRequested:
		m, err := event.Decode[event.ActionRequested_v1](env)
		return fmt.Sprintf("%s requested by %s for drift %s", m.Fact.Kind, m.Fact.RequestedBy, m.Fact.DriftID), m.Fact.Reason, err
	case event.TypeActionSucceeded:
		m, err := event.Decode[event.ActionSucceeded_v1](env)
		s := fmt.Sprintf("%s succeeded on %s", m.Fact.Kind, cmp.Or(m.Fact.Target, "the CI"))
		if !m.Fact.Changed {
			s += " (nothing to change)"
		}
		return s, m.Fact.Detail, err
	case event.TypeActionFailed:
		m, err := event.Decode[event.ActionFailed_v1](env)
		return fmt.Sprintf("%s failed (attempt %d, retryable %t): %s", m.Fact.Kind, m.Fact.Attempt, m.Fact.Retryable, m.Fact.Reason), "", err
	}
	if !event.Known(env.Type) {
		return "", "", errors.New("unknown fact type")
	}
	return shortType(env.Type), "", nil
}

func short(hash string) string {
	if len(hash) > 19 {
		return hash[:19]
	}
	return hash
}

func from(source string) string {
	if source == "" {
		return ""
	}
	return ", from " + source
}
