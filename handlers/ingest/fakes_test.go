package ingest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/states"
)

// clock is a settable clock for the tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rig is ingest over a real embedded event store.
type rig struct {
	t     *testing.T
	store *bolt.Store
	clock *clock
	s     *ingest.Ingest
}

func openStore(t *testing.T) *bolt.Store {
	t.Helper()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(t.TempDir(), "events")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func newRig(t *testing.T, cfg ingest.Config) *rig {
	t.Helper()
	return rigOn(t, openStore(t), newClock(), cfg)
}

// rigOn is another ingest over the same store and clock: another process, as far as ingest
// can tell.
func rigOn(t *testing.T, store *bolt.Store, c *clock, cfg ingest.Config) *rig {
	t.Helper()
	st, err := states.New(states.Config{}, store)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ingest.New(cfg, ingest.Deps{Store: store, States: st, Logger: zap.NewNop(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, store: store, clock: c, s: s}
}

var seq atomic.Int64

// submit submits o as message id (a fresh one when empty) and fails on error.
func (r *rig) submit(o drift.Observation, scope ...string) ingest.Outcome {
	r.t.Helper()
	out, err := r.try(o, scope...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *rig) try(o drift.Observation, scope ...string) (ingest.Outcome, error) {
	r.t.Helper()
	in := event.Message[event.ObservationSubmitted_v1]{ID: event.DeriveID("msg", r.t.Name(), fmt.Sprint(seq.Add(1))), Time: r.clock.Now(),
		Fact: event.ObservationSubmitted_v1{Observation: o, Scope: scope}}
	return r.s.Submit(context.Background(), in)
}

// stream reads the CI's observation stream.
func (r *rig) stream(ci string) []eventstore.Recorded {
	r.t.Helper()
	recs, err := r.store.ReadStream(context.Background(), event.ObservationStreamPrefix+ci, 0, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	return recs
}

// all reads the whole store.
func (r *rig) all() []eventstore.Recorded {
	r.t.Helper()
	recs, err := r.store.ReadAll(context.Background(), 0, 10000)
	if err != nil {
		r.t.Fatal(err)
	}
	return recs
}

func obs(ci, state string) drift.Observation {
	return drift.Observation{CIID: ci, CIType: "vm", State: json.RawMessage(state)}
}

type agentKey struct {
	id   string
	priv ed25519.PrivateKey
	cred event.AgentEnrolled_v1
}

func newAgent(t *testing.T, id string, cis ...string) agentKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return agentKey{id: id, priv: priv, cred: event.AgentEnrolled_v1{AgentID: id, CIIDs: cis, Algorithm: event.KeyAlgorithmEd25519, PublicKey: event.EncodePublicKey(pub)}}
}

// enrol records the agent's credential in the store, as POST /agents does.
func (r *rig) enrol(a agentKey) {
	r.t.Helper()
	rec := event.Record{ID: event.DeriveID("enrol", a.id), Subject: a.id, Fact: a.cred}
	ev, stream, err := rec.StoreEvent()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.store.Append(context.Background(), stream, eventstore.Any, ev); err != nil {
		r.t.Fatal(err)
	}
}

func signed(t *testing.T, a agentKey, ci string) event.ObservationSubmitted_v1 {
	t.Helper()
	s := event.ObservationSubmitted_v1{Observation: drift.Observation{
		ID: "obs-" + ci, CIID: ci, CIType: "node", Source: "agent", State: json.RawMessage(`{"files":{}}`),
	}, Scope: []string{"/files/~1etc~1hosts"}}
	s.StateHash, _ = drift.Hash(s.State)
	if err := event.Sign(&s, a.id, a.priv); err != nil {
		t.Fatal(err)
	}
	return s
}

// errClosed is the error of the rig's closed store.
func errClosed(*rig) error { return bolt.ErrClosed }
