// Package projections builds driftwatch's read models from the event store. A Runner follows
// the store from a checkpoint it keeps in one bbolt file, and applies each batch of events to
// every registered Projection in the same transaction that moves the checkpoint, so that a
// crash neither applies an event twice nor loses one. Replaying the store from position 0
// into a fresh file (Rebuild) gives the same read models.
package projections

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Projection is one read model kept in the runner's bbolt file. Each has its own checkpoint:
// one added to an existing file starts from position 0 and catches up by itself, and so does
// one whose Version changed (its bucket is dropped first).
type Projection interface {
	// Name identifies the projection in logs and in its top-level bucket; stable kebab-case.
	// Everything the projection keeps lives in that bucket.
	Name() string
	// Version is the schema of what the projection keeps; a new version rebuilds it from
	// position 0.
	Version() int
	// Open creates the projection's buckets in db when they are missing, loads any in-memory
	// state from them and keeps db for queries. The runner calls it once, before any Apply;
	// opening an instance again (as after Rebuild) starts it over on the new db.
	Open(db *bolt.DB) error
	// Apply updates the read model from one event inside tx, the transaction that also moves
	// the checkpoint. It must be deterministic (the event is its only input, so that a
	// rebuild gives the same model) and idempotent (a fact recorded twice under different
	// positions changes nothing the second time). It ignores types it does not consume. An
	// event it cannot use returns Skip(reason) before writing anything; any other error aborts
	// the batch and stops the runner. In-memory state must change only in tx.OnCommit.
	Apply(tx *bolt.Tx, ev Event) error
}

// Event is one recorded event with its parsed CloudEvents envelope.
type Event struct {
	eventstore.Recorded
	// Envelope is event.FromStore(Recorded); its Type is a registered fact type.
	Envelope event.Envelope
}

// skipError marks an event a projection cannot use.
type skipError struct{ err error }

// Error implements error.
func (s skipError) Error() string { return s.err.Error() }

// Unwrap returns the reason.
func (s skipError) Unwrap() error { return s.err }

// Skip marks err as a reason to skip the event: the runner logs it and moves on. Skip(nil) is
// nil.
func Skip(err error) error {
	if err == nil {
		return nil
	}
	return skipError{err}
}

// IsSkip reports whether err, or an error it wraps, was marked with Skip.
func IsSkip(err error) bool {
	var s skipError
	return errors.As(err, &s)
}

// GetJSON decodes the JSON value at key of b into v and reports whether it was there: the
// read half of how read models keep their records.
func GetJSON(b *bolt.Bucket, key string, v any) (bool, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// PutJSON stores v as JSON at key of b.
func PutJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put([]byte(key), raw)
}
