package event

import (
	"time"

	"github.com/driftwatch/driftwatch/pipeline/auth"
)

// TokenStreamPrefix starts the event-store stream of one API token (token-<id>): created,
// then perhaps revoked. The API reads its last fact on every request, so a revocation takes
// effect at once.
const TokenStreamPrefix = "token-"

// TokensBootstrapStream holds the one TokensBootstrapped_v1 of a store: the first admin
// token is made once.
const TokensBootstrapStream = "tokens-bootstrap"

// TokenCreated_v1 records an API token: its hash (never the secret), name and role.
type TokenCreated_v1 struct {
	TokenID   string    `json:"token_id"`
	Name      string    `json:"name"`
	Role      auth.Role `json:"role"`
	Hash      string    `json:"hash"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenRevoked_v1 records that a token no longer works.
type TokenRevoked_v1 struct {
	TokenID   string    `json:"token_id"`
	RevokedBy string    `json:"revoked_by"`
	Reason    string    `json:"reason,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
}

// TokensBootstrapped_v1 records that the store's first admin token was made, and where its
// secret was written (empty when DRIFTWATCH_ADMIN_TOKEN supplied it).
type TokensBootstrapped_v1 struct {
	TokenID   string    `json:"token_id"`
	File      string    `json:"file,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// FactType implements Fact.
func (TokenCreated_v1) FactType() string { return TypeTokenCreated }

// FactType implements Fact.
func (TokenRevoked_v1) FactType() string { return TypeTokenRevoked }

// FactType implements Fact.
func (TokensBootstrapped_v1) FactType() string { return TypeTokensBootstrapped }
