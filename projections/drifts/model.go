// Package drifts is the drift read model: every drift with its lifecycle, the drift status
// of every CI with its last observed state, and the report counts. It is a
// projections.Projection fed by ObservationReceived_v1, DriftDetected_v1,
// DriftUpdated_v1, DriftAcknowledged_v1, DriftEscalated_v1, DriftResolved_v1 and the action
// facts that move a drift to remediating and name its tickets, with the CIs' states by hash
// from the observation facts and their last verdicts from PolicyEvaluated_v2; its queries
// serve the HTTP API and reconcile.
package drifts

import (
	"errors"
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// Bucket names. The root bucket is the projection's name; the others live inside it.
var (
	rootBucket   = []byte(Name)
	driftBucket  = []byte("drift")   // drift id -> Drift JSON
	orderBucket  = []byte("order")   // detected_at, drift id -> orderValue
	ciBucket     = []byte("ci")      // ci id -> CI JSON
	ciOpenBucket = []byte("ci_open") // ci id, 0, drift id -> severity of an unresolved drift
	ciSeenBucket = []byte("ci_seen") // ci id -> seenValue: what Coverage counts of the CI
	countBucket  = []byte("count")   // dimension, 0, value, 0, status -> uint64
)

// Name is the projection's name and root bucket.
const Name = "drifts"

// ErrNotOpen is returned by queries before the runner opened the model.
var ErrNotOpen = errors.New("drift read model: not open")

// Model is the drift read model. Apply is called by the projections runner; the queries are
// safe for concurrent use with it and with each other.
type Model struct {
	db atomic.Pointer[bolt.DB]
}

var _ projections.Projection = (*Model)(nil)

// New returns a model to register with a projections.Runner.
func New() *Model { return &Model{} }

// Name implements projections.Projection.
func (m *Model) Name() string { return Name }

// Version implements projections.Projection: 2 keeps CIs' states by hash only; 3 names the
// governing template on CIs and the template version on drifts; 4 follows the remediation
// lifecycle (remediating, escalated, planned, the ticket numbers); 5 keeps what the coverage
// report counts of each CI apart from its record (ci_seen).
func (m *Model) Version() int { return 5 }

// Consumes implements projections.Consumer.
func (m *Model) Consumes(typ string) bool {
	switch typ {
	case event.TypeObservationReceived, event.TypeObservationReceivedV2, event.TypeObservationUnchanged,
		event.TypePolicyEvaluatedV2, event.TypeDriftDetected, event.TypeDriftUpdated,
		event.TypeDriftAcknowledged, event.TypeDriftResolved, event.TypeDriftEscalated,
		event.TypeDriftPlanned, event.TypeActionRequested, event.TypeActionSucceeded:
		return true
	}
	return false
}

// Open implements projections.Projection: it creates the buckets.
func (m *Model) Open(db *bolt.DB) error {
	err := db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootBucket)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{driftBucket, orderBucket, ciBucket, ciOpenBucket, ciSeenBucket, countBucket} {
			if _, err := root.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create drift read model buckets: %w", err)
	}
	m.db.Store(db)
	return nil
}

// Apply implements projections.Projection. It is idempotent: a drift is opened once, and
// acknowledged and resolved once; an observation already recorded, or older than the CI's
// last one, changes nothing.
func (m *Model) Apply(tx *bolt.Tx, ev projections.Event) error {
	b := buckets(tx)
	switch ev.Envelope.Type {
	case event.TypeObservationReceived:
		msg, err := event.Decode[event.ObservationReceived_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		f := msg.Fact
		return b.observed(observation{id: f.ObservationID, ci: f.CIID, ciType: f.CIType, templateID: f.TemplateID, source: f.Source,
			hash: f.StateHash, observedAt: f.ObservedAt, receivedAt: f.ReceivedAt, changed: true})
	case event.TypeObservationReceivedV2:
		msg, err := event.Decode[event.ObservationReceived_v2](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		f := msg.Fact
		return b.observed(observation{id: f.ObservationID, ci: f.CIID, ciType: f.CIType, templateID: f.TemplateID, source: f.Source,
			hash: f.StateHash, observedAt: f.ObservedAt, receivedAt: f.ReceivedAt, changed: true})
	case event.TypeObservationUnchanged:
		msg, err := event.Decode[event.ObservationUnchanged_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		f := msg.Fact
		return b.observed(observation{id: f.ObservationID, ci: f.CIID, source: f.Source, hash: f.StateHash, observedAt: f.ObservedAt, receivedAt: f.ReceivedAt})
	case event.TypePolicyEvaluatedV2:
		msg, err := event.Decode[event.PolicyEvaluated_v2](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.evaluated(msg.Fact, uint64(ev.Position))
	case event.TypeDriftDetected:
		msg, err := event.Decode[event.DriftDetected_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.detected(msg.Fact)
	case event.TypeDriftUpdated:
		msg, err := event.Decode[event.DriftUpdated_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.updated(msg.Fact)
	case event.TypeDriftAcknowledged:
		msg, err := event.Decode[event.DriftAcknowledged_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.acknowledged(msg.Fact)
	case event.TypeDriftResolved:
		msg, err := event.Decode[event.DriftResolved_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.resolved(msg.Fact)
	case event.TypeDriftEscalated:
		msg, err := event.Decode[event.DriftEscalated_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.escalated(msg.Fact)
	case event.TypeDriftPlanned:
		msg, err := event.Decode[event.DriftPlanned_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.planned(msg.Fact)
	case event.TypeActionRequested:
		msg, err := event.Decode[event.ActionRequested_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.actionRequested(msg.Fact)
	case event.TypeActionSucceeded:
		msg, err := event.Decode[event.ActionSucceeded_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return b.actionSucceeded(msg.Fact)
	}
	return nil
}

// model gives access to the model's buckets within one transaction.
type model struct {
	drift, order, ci, ciOpen, ciSeen, count *bolt.Bucket
}

func buckets(tx *bolt.Tx) model {
	root := tx.Bucket(rootBucket)
	return model{
		drift: root.Bucket(driftBucket), order: root.Bucket(orderBucket), ci: root.Bucket(ciBucket),
		ciOpen: root.Bucket(ciOpenBucket), ciSeen: root.Bucket(ciSeenBucket), count: root.Bucket(countBucket),
	}
}

// view runs fn in a read transaction on the open model.
func (m *Model) view(fn func(b model) error) error {
	db := m.db.Load()
	if db == nil {
		return ErrNotOpen
	}
	return db.View(func(tx *bolt.Tx) error { return fn(buckets(tx)) })
}
