// Package agents is the read model of enrolled node agents and of the observations ingest
// rejected for their credentials, built from AgentEnrolled_v1 and ObservationRejected_v1. It
// serves the API's /agents queries and, through Credential, the ingest stage's signature
// checks: those read an in-memory index, loaded at Open and updated when a transaction that
// changed it commits, so they are cheap and safe for concurrent use.
package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// Name is the projection's name and root bucket.
const Name = "agents"

var (
	rootBucket      = []byte(Name)
	agentBucket     = []byte("agent")     // agent id -> Agent JSON
	rejectionBucket = []byte("rejection") // rejected_at, 0, event id -> Rejection JSON
	seenBucket      = []byte("seen")      // rejection event id -> its key in rejectionBucket
)

// timeKey sorts like the time: fixed width, UTC, nanoseconds.
const timeKey = "20060102T150405.000000000Z"

// Agent is one enrolled agent as the API shows it: its credential and how many of the
// observations naming it were rejected.
type Agent struct {
	event.AgentEnrolled_v1
	// Rejected counts rejected observations that named this agent.
	Rejected int `json:"rejected"`
	// LastRejectedAt and LastRejection describe the latest of them.
	LastRejectedAt time.Time          `json:"last_rejected_at,omitzero"`
	LastRejection  event.RejectReason `json:"last_rejection,omitempty"`
}

// Rejection is one rejected observation, with the id of its fact.
type Rejection struct {
	ID string `json:"id"`
	event.ObservationRejected_v1
}

// Model is the agents read model. Apply is called by the projections runner; every other
// method is safe for concurrent use with it and with each other.
type Model struct {
	mu    sync.RWMutex
	db    *bolt.DB
	creds map[string]event.AgentEnrolled_v1
}

var _ projections.Projection = (*Model)(nil)

// ErrNotOpen is returned by queries before the runner opened the model.
var ErrNotOpen = errors.New("agents read model: not open")

// New returns a model to register with a projections.Runner.
func New() *Model { return &Model{creds: map[string]event.AgentEnrolled_v1{}} }

// Name implements projections.Projection.
func (m *Model) Name() string { return Name }

// Version implements projections.Projection.
func (m *Model) Version() int { return 1 }

// Consumes implements projections.Consumer.
func (m *Model) Consumes(typ string) bool {
	return typ == event.TypeAgentEnrolled || typ == event.TypeObservationRejected
}

// Open implements projections.Projection: it creates the buckets and loads the credentials.
func (m *Model) Open(db *bolt.DB) error {
	creds := map[string]event.AgentEnrolled_v1{}
	err := db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootBucket)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{agentBucket, rejectionBucket, seenBucket} {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return root.Bucket(agentBucket).ForEach(func(k, v []byte) error {
			var a Agent
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode agent %s: %w", k, err)
			}
			creds[a.AgentID] = a.AgentEnrolled_v1
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("open agents read model: %w", err)
	}
	m.mu.Lock()
	m.db, m.creds = db, creds
	m.mu.Unlock()
	return nil
}

// Apply implements projections.Projection. It is idempotent: an enrolment stores the whole
// new credential, keeping the rejection counts; a rejection is counted once per fact id.
func (m *Model) Apply(tx *bolt.Tx, ev projections.Event) error {
	root := tx.Bucket(rootBucket)
	switch ev.Envelope.Type {
	case event.TypeAgentEnrolled:
		msg, err := event.Decode[event.AgentEnrolled_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		cred := msg.Fact
		if cred.AgentID == "" {
			return projections.Skip(errors.New("agent enrolment without agent_id"))
		}
		cred.CIIDs = slices.Clone(cred.CIIDs)
		var a Agent
		if _, err := projections.GetJSON(root.Bucket(agentBucket), cred.AgentID, &a); err != nil {
			return err
		}
		a.AgentEnrolled_v1 = cred
		if err := projections.PutJSON(root.Bucket(agentBucket), cred.AgentID, a); err != nil {
			return err
		}
		tx.OnCommit(func() {
			m.mu.Lock()
			m.creds[cred.AgentID] = cred
			m.mu.Unlock()
		})
	case event.TypeObservationRejected:
		msg, err := event.Decode[event.ObservationRejected_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		return rejected(root, Rejection{ID: msg.ID, ObservationRejected_v1: msg.Fact})
	}
	return nil
}

// rejected logs a rejection and counts it on its agent, once per fact id.
func rejected(root *bolt.Bucket, r Rejection) error {
	seen := root.Bucket(seenBucket)
	if seen.Get([]byte(r.ID)) != nil {
		return nil
	}
	key := []byte(r.RejectedAt.UTC().Format(timeKey) + "\x00" + r.ID)
	if err := seen.Put([]byte(r.ID), key); err != nil {
		return err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode rejection %s: %w", r.ID, err)
	}
	if err := root.Bucket(rejectionBucket).Put(key, raw); err != nil {
		return err
	}
	if r.AgentID == "" {
		return nil
	}
	var a Agent
	found, err := projections.GetJSON(root.Bucket(agentBucket), r.AgentID, &a)
	if err != nil || !found {
		return err
	}
	a.Rejected++
	if !r.RejectedAt.Before(a.LastRejectedAt) {
		a.LastRejectedAt, a.LastRejection = r.RejectedAt.UTC(), r.Reason
	}
	return projections.PutJSON(root.Bucket(agentBucket), r.AgentID, a)
}

// Credential returns the enrolled credential of an agent; the error is always nil (the index
// is in memory). It implements the ingest stage's Credentials.
func (m *Model) Credential(_ context.Context, agentID string) (event.AgentEnrolled_v1, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.creds[agentID]
	c.CIIDs = slices.Clone(c.CIIDs)
	return c, ok, nil
}

// Agent returns one enrolled agent.
func (m *Model) Agent(id string) (Agent, bool, error) {
	var a Agent
	var found bool
	err := m.view(func(root *bolt.Bucket) error {
		var err error
		found, err = projections.GetJSON(root.Bucket(agentBucket), id, &a)
		return err
	})
	return a, found, err
}

// Agents returns every enrolled agent, by agent id.
func (m *Model) Agents() ([]Agent, error) {
	out := []Agent{}
	err := m.view(func(root *bolt.Bucket) error {
		return root.Bucket(agentBucket).ForEach(func(k, v []byte) error {
			var a Agent
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode agent %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

// Rejections returns up to limit rejected observations, newest first.
func (m *Model) Rejections(limit int) ([]Rejection, error) {
	out := []Rejection{}
	err := m.view(func(root *bolt.Bucket) error {
		c := root.Bucket(rejectionBucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var r Rejection
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode rejection %q: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// view runs fn in a read transaction on the open model.
func (m *Model) view(fn func(root *bolt.Bucket) error) error {
	m.mu.RLock()
	db := m.db
	m.mu.RUnlock()
	if db == nil {
		return ErrNotOpen
	}
	return db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(rootBucket)) })
}
