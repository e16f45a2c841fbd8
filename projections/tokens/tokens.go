// Package tokens is the read side of API tokens: a read model that lists them (GET /tokens,
// driftwatch token list), and a Verifier that the API asks on every request. The Verifier
// reads the token's own stream in the event store, not the read model, so that a token works
// the moment it is created and stops the moment it is revoked, in every process.
package tokens

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections"
)

// Name is the projection's name and root bucket.
const Name = "tokens"

var rootBucket = []byte(Name) // token id -> Token JSON

// Token is one API token as it is listed: never its secret, nor its hash.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      auth.Role `json:"role"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Revoked   bool      `json:"revoked"`
}

// Model is the tokens read model.
type Model struct {
	mu sync.RWMutex
	db *bolt.DB
}

var _ projections.Projection = (*Model)(nil)

// ErrNotOpen is returned by queries before the runner opened the model.
var ErrNotOpen = errors.New("tokens read model: not open")

// New returns a model to register with a projections.Runner.
func New() *Model { return &Model{} }

// Name implements projections.Projection.
func (m *Model) Name() string { return Name }

// Version implements projections.Projection.
func (m *Model) Version() int { return 1 }

// Consumes implements projections.Consumer.
func (m *Model) Consumes(typ string) bool {
	return typ == event.TypeTokenCreated || typ == event.TypeTokenRevoked
}

// Open implements projections.Projection.
func (m *Model) Open(db *bolt.DB) error {
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(rootBucket)
		return err
	}); err != nil {
		return fmt.Errorf("open tokens read model: %w", err)
	}
	m.mu.Lock()
	m.db = db
	m.mu.Unlock()
	return nil
}

// Apply implements projections.Projection.
func (m *Model) Apply(tx *bolt.Tx, ev projections.Event) error {
	b := tx.Bucket(rootBucket)
	switch ev.Envelope.Type {
	case event.TypeTokenCreated:
		msg, err := event.Decode[event.TokenCreated_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		f := msg.Fact
		var t Token
		if _, err := projections.GetJSON(b, f.TokenID, &t); err != nil {
			return err
		}
		t.ID, t.Name, t.Role, t.CreatedBy, t.CreatedAt = f.TokenID, f.Name, f.Role, f.CreatedBy, f.CreatedAt
		return projections.PutJSON(b, f.TokenID, t)
	case event.TypeTokenRevoked:
		msg, err := event.Decode[event.TokenRevoked_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		f := msg.Fact
		var t Token
		ok, err := projections.GetJSON(b, f.TokenID, &t)
		if err != nil || !ok {
			return err
		}
		t.Revoked, t.RevokedBy, t.RevokedAt = true, f.RevokedBy, f.RevokedAt
		return projections.PutJSON(b, f.TokenID, t)
	}
	return nil
}

// List returns every token, oldest first; revoked ones only when withRevoked.
func (m *Model) List(withRevoked bool) ([]Token, error) {
	m.mu.RLock()
	db := m.db
	m.mu.RUnlock()
	if db == nil {
		return nil, ErrNotOpen
	}
	out := []Token{}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(rootBucket)
		return b.ForEach(func(k, _ []byte) error {
			var t Token
			if _, err := projections.GetJSON(b, string(k), &t); err != nil {
				return err
			}
			if withRevoked || !t.Revoked {
				out = append(out, t)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// Verifier authenticates a bearer token by reading its stream in the event store.
type Verifier struct{ Store eventstore.Store }

// Authenticate returns who the secret belongs to, or auth.ErrUnknownToken.
func (v Verifier) Authenticate(ctx context.Context, secret string) (auth.Principal, error) {
	if auth.CheckSecret(secret) != nil {
		return auth.Principal{}, auth.ErrUnknownToken
	}
	hash := auth.Hash(secret)
	last, found, err := v.Store.ReadLast(ctx, event.TokenStreamPrefix+auth.IDOf(hash))
	if err != nil {
		return auth.Principal{}, fmt.Errorf("look up token: %w", err)
	}
	if !found || last.Type != event.TypeTokenCreated {
		return auth.Principal{}, auth.ErrUnknownToken // never created, or revoked since
	}
	env, err := event.FromStore(last)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("look up token: %w", err)
	}
	msg, err := event.Decode[event.TokenCreated_v1](env)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("look up token: %w", err)
	}
	if !auth.SameHash(msg.Fact.Hash, hash) {
		return auth.Principal{}, auth.ErrUnknownToken
	}
	return auth.Principal{TokenID: msg.Fact.TokenID, Name: msg.Fact.Name, Role: msg.Fact.Role}, nil
}
