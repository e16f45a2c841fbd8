// Package counters is a read model of running totals for metrics: actions by kind and
// outcome, and messages parked in the poison stream by the stage that parked them. Counts
// persist with the model's checkpoint, so a restart neither loses nor doubles them.
package counters

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// Name is the projection's name and root bucket.
const Name = "counters"

var (
	rootBucket = []byte(Name)
	seenBucket = []byte("seen") // fact ids counted
	keyBucket  = []byte("n")    // counter key -> 8-byte big-endian count
)

// Counter keys: "action\x00<kind>\x00<outcome>" and "poison\x00<handler>".
const (
	kindAction = "action"
	kindPoison = "poison"
)

// Model is the counters read model.
type Model struct {
	mu sync.RWMutex
	db *bolt.DB
}

var _ projections.Projection = (*Model)(nil)

// ErrNotOpen is returned by queries before the runner opened the model.
var ErrNotOpen = errors.New("counters read model: not open")

// New returns a model to register with a projections.Runner.
func New() *Model { return &Model{} }

// Name implements projections.Projection.
func (m *Model) Name() string { return Name }

// Version implements projections.Projection.
func (m *Model) Version() int { return 1 }

// Consumes implements projections.Consumer.
func (m *Model) Consumes(typ string) bool {
	switch typ {
	case event.TypeActionSucceeded, event.TypeActionFailed, event.TypePoison:
		return true
	}
	return false
}

// Open implements projections.Projection.
func (m *Model) Open(db *bolt.DB) error {
	err := db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootBucket)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{seenBucket, keyBucket} {
			if _, err := root.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open counters read model: %w", err)
	}
	m.mu.Lock()
	m.db = db
	m.mu.Unlock()
	return nil
}

// Apply implements projections.Projection: each fact counts once, by its id.
func (m *Model) Apply(tx *bolt.Tx, ev projections.Event) error {
	var key string
	switch ev.Envelope.Type {
	case event.TypeActionSucceeded:
		msg, err := event.Decode[event.ActionSucceeded_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		key = kindAction + "\x00" + string(msg.Fact.Kind) + "\x00succeeded"
	case event.TypeActionFailed:
		msg, err := event.Decode[event.ActionFailed_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		key = kindAction + "\x00" + string(msg.Fact.Kind) + "\x00failed"
	case event.TypePoison:
		msg, err := event.Decode[event.Poison_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		key = kindPoison + "\x00" + msg.Fact.Handler
	default:
		return nil
	}
	root := tx.Bucket(rootBucket)
	seen := root.Bucket(seenBucket)
	if seen.Get([]byte(ev.Envelope.ID)) != nil {
		return nil
	}
	if err := seen.Put([]byte(ev.Envelope.ID), nil); err != nil {
		return err
	}
	n := root.Bucket(keyBucket)
	v := binary.BigEndian.Uint64(pad8(n.Get([]byte(key))))
	return n.Put([]byte(key), binary.BigEndian.AppendUint64(nil, v+1))
}

func pad8(b []byte) []byte {
	if len(b) == 8 {
		return b
	}
	return make([]byte, 8)
}

// Action is a count of actions of one kind with one outcome.
type Action struct {
	Kind, Outcome string
	N             uint64
}

// Totals are the counters.
type Totals struct {
	Actions []Action
	// Poison counts parked messages by the stage (handler) that parked them.
	Poison map[string]uint64
}

// Totals reads every counter.
func (m *Model) Totals() (Totals, error) {
	m.mu.RLock()
	db := m.db
	m.mu.RUnlock()
	if db == nil {
		return Totals{}, ErrNotOpen
	}
	t := Totals{Poison: map[string]uint64{}}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(rootBucket).Bucket(keyBucket).ForEach(func(k, v []byte) error {
			parts := strings.Split(string(k), "\x00")
			n := binary.BigEndian.Uint64(pad8(v))
			switch {
			case parts[0] == kindAction && len(parts) == 3:
				t.Actions = append(t.Actions, Action{Kind: parts[1], Outcome: parts[2], N: n})
			case parts[0] == kindPoison && len(parts) == 2:
				t.Poison[parts[1]] = n
			}
			return nil
		})
	})
	return t, err
}
