package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// waitTimeout bounds every wait in these tests; nothing sleeps.
const waitTimeout = 10 * time.Second

// testContext is bounded by waitTimeout and ends with the test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// counter is a fake projection: it counts acknowledgements per drift in its bucket, and
// keeps the total in memory once committed. An acknowledgement by "skip-me" is skipped; one
// by "fail" fails the batch.
type counter struct {
	mu        sync.Mutex
	db        *bolt.DB
	committed int
}

func (c *counter) Name() string { return "counter" }

func (c *counter) Version() int { return 1 }

func (c *counter) Open(db *bolt.DB) error {
	c.db = db
	return db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("counter"))
		return err
	})
}

func (c *counter) Apply(tx *bolt.Tx, ev Event) error {
	if ev.Envelope.Type != event.TypeDriftAcknowledged {
		return nil
	}
	msg, err := event.Decode[event.DriftAcknowledged_v1](ev.Envelope)
	if err != nil {
		return Skip(err)
	}
	switch msg.Fact.By {
	case "skip-me":
		return Skip(errors.New("asked to be skipped"))
	case "fail":
		return errors.New("disk on fire")
	}
	b := tx.Bucket([]byte("counter"))
	var n uint64
	if v := b.Get([]byte(msg.Fact.DriftID)); v != nil {
		n = binary.BigEndian.Uint64(v)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n+1)
	tx.OnCommit(func() {
		c.mu.Lock()
		c.committed++
		c.mu.Unlock()
	})
	return b.Put([]byte(msg.Fact.DriftID), v[:])
}

// count returns how often the drift was applied, as stored.
func (c *counter) count(t *testing.T, driftID string) uint64 {
	t.Helper()
	var n uint64
	err := c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("counter")).Get([]byte(driftID)); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return n
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed
}

// ack returns an acknowledgement of driftID by by.
func ack(driftID, by string) event.Record {
	return event.Record{
		ID: event.DeriveID("test-ack", driftID, by), Subject: "ci-1", Time: time.Unix(1700000000, 0),
		Fact: event.DriftAcknowledged_v1{DriftID: driftID, CIID: "ci-1", By: by, AcknowledgedAt: time.Unix(1700000000, 0)},
	}
}

// AppendRecords appends facts to their streams and returns the position of the last one.
func AppendRecords(t *testing.T, s eventstore.Store, recs ...event.Record) eventstore.Position {
	t.Helper()
	var pos eventstore.Position
	for _, r := range recs {
		ev, stream, err := r.StoreEvent()
		if err != nil {
			t.Fatalf("store event of %s: %v", r.Fact.FactType(), err)
		}
		res, err := s.Append(testContext(t), stream, eventstore.Any, ev)
		if err != nil {
			t.Fatalf("append %s: %v", r.Fact.FactType(), err)
		}
		pos = res.Position
	}
	return pos
}
