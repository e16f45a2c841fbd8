// Package states keeps distinct states (observed states, desired definitions) once each in
// the event store, content-addressed by their SHA-256 (event.StateRecorded_v1), and reads them
// back by hash through a bounded cache. Facts between stages carry hashes; a stage decodes a
// state only when its hash does not settle the question.
package states

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// ErrUnknown means no state with that hash is stored.
var ErrUnknown = errors.New("unknown state")

// Config bounds the cache. The zero value is the default.
type Config struct {
	// CacheBytes bounds the bytes of states kept in memory; default 64 MiB.
	CacheBytes int
	// KnownHashes bounds how many hashes are remembered as stored without their state;
	// default 1,000,000 (about 100 MB at most).
	KnownHashes int
}

// Store reads and remembers states. It is safe for concurrent use.
type Store struct {
	cfg   Config
	store eventstore.Store

	mu    sync.Mutex
	bytes int
	lru   *list.List               // of *entry, most recent first
	byKey map[string]*list.Element // hash -> element of lru
	known map[string]struct{}      // hashes known to be stored
}

type entry struct {
	hash  string
	state json.RawMessage
}

// New returns a Store over store (required).
func New(cfg Config, store eventstore.Store) (*Store, error) {
	if store == nil {
		return nil, errors.New("new state store: event store: required")
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.KnownHashes == 0 {
		cfg.KnownHashes = 1_000_000
	}
	if cfg.CacheBytes < 0 || cfg.KnownHashes < 0 {
		return nil, fmt.Errorf("new state store: cache bytes %d and known hashes %d must not be negative", cfg.CacheBytes, cfg.KnownHashes)
	}
	return &Store{cfg: cfg, store: store, lru: list.New(), byKey: map[string]*list.Element{}, known: map[string]struct{}{}}, nil
}

// Record returns the record that stores a canonical state under its hash, unless the state is
// stored already (then ok is false and nothing needs appending): known to this Store, or
// found in the event store, which it then remembers. Call Stored once the record is durable;
// a caller that leaves that to another component may skip it, the next Record finds the
// state stored.
func (s *Store) Record(ctx context.Context, hash string, canonical json.RawMessage, at time.Time) (rec event.Record, ok bool, err error) {
	if s.Known(hash) {
		return event.Record{}, false, nil
	}
	_, found, err := s.store.ReadLast(ctx, event.StateStream(hash))
	if err != nil {
		return event.Record{}, false, fmt.Errorf("look up state %s: %w", hash, err)
	}
	if found {
		s.mu.Lock()
		s.remember(hash)
		s.mu.Unlock()
		return event.Record{}, false, nil
	}
	return event.StateRecord(hash, canonical, at), true, nil
}

// Stored remembers that the state with hash is durable, and caches it.
func (s *Store) Stored(hash string, canonical json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remember(hash)
	s.cache(hash, canonical)
}

// Get returns the canonical state with hash: from the cache, else from the event store.
func (s *Store) Get(ctx context.Context, hash string) (json.RawMessage, error) {
	s.mu.Lock()
	if el, ok := s.byKey[hash]; ok {
		s.lru.MoveToFront(el)
		st := el.Value.(*entry).state
		s.mu.Unlock()
		return st, nil
	}
	s.mu.Unlock()
	rec, found, err := s.store.ReadLast(ctx, event.StateStream(hash))
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", hash, err)
	}
	if !found {
		return nil, fmt.Errorf("read state %s: %w", hash, ErrUnknown)
	}
	env, err := event.FromStore(rec)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", hash, err)
	}
	m, err := event.Decode[event.StateRecorded_v1](env)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", hash, err)
	}
	s.Stored(hash, m.Fact.State)
	return m.Fact.State, nil
}

func (s *Store) remember(hash string) {
	if _, ok := s.known[hash]; ok || s.cfg.KnownHashes == 0 {
		return
	}
	if len(s.known) >= s.cfg.KnownHashes {
		// Forget an arbitrary half: a forgotten hash costs one idempotent append.
		n := 0
		for h := range s.known {
			delete(s.known, h)
			if n++; n >= s.cfg.KnownHashes/2 {
				break
			}
		}
	}
	s.known[hash] = struct{}{}
}

func (s *Store) cache(hash string, state json.RawMessage) {
	if el, ok := s.byKey[hash]; ok {
		s.lru.MoveToFront(el)
		return
	}
	if len(state) > s.cfg.CacheBytes {
		return
	}
	s.byKey[hash] = s.lru.PushFront(&entry{hash: hash, state: state})
	s.bytes += len(state)
	for s.bytes > s.cfg.CacheBytes {
		last := s.lru.Back()
		e := last.Value.(*entry)
		s.lru.Remove(last)
		delete(s.byKey, e.hash)
		s.bytes -= len(e.state)
	}
}

// Known reports whether the state with hash is known to be stored (recorded or read through
// this Store).
func (s *Store) Known(hash string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.known[hash]
	return ok
}
