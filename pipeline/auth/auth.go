// Package auth holds the vocabulary of API access: roles, bearer tokens and who a request
// acts as. Tokens are random secrets; only their SHA-256 hash is ever stored, and the first
// 16 hex digits of that hash are the token's id.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Role is what a caller may do. Each role includes the ones below it.
type Role int

const (
	// Anonymous is a caller without a token: it reaches /healthz alone.
	Anonymous Role = iota
	// Viewer reads: drifts, CIs, reports, templates, policies, history.
	Viewer
	// Operator also acts on drift: submits observations and facts, acknowledges, remediates,
	// quarantines, reconciles.
	Operator
	// Admin also changes what driftwatch enforces and who may use it: templates, policies,
	// agents and tokens.
	Admin
)

var roleNames = map[Role]string{Anonymous: "anonymous", Viewer: "viewer", Operator: "operator", Admin: "admin"}

// String is the role's name.
func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Allows reports whether a caller with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r >= need }

// Roles are the roles a token can have, lowest first.
var Roles = []Role{Viewer, Operator, Admin}

// ParseRole reads a token's role: viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if s == r.String() {
			return r, nil
		}
	}
	return Anonymous, fmt.Errorf("role %q: want viewer, operator or admin", s)
}

// MarshalText writes the role's name.
func (r Role) MarshalText() ([]byte, error) {
	if _, ok := roleNames[r]; !ok {
		return nil, fmt.Errorf("unknown role %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a token's role.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	*r = v
	return err
}

// SecretPrefix starts every token secret, so that one found in a log or a repository is
// recognisable.
const SecretPrefix = "dwt_"

// NewSecret returns a fresh token secret: SecretPrefix and 32 random bytes, base64url.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is the stored form of a secret: its SHA-256, in hex.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// IDOf is the id of the token whose hash is hash.
func IDOf(hash string) string { return hash[:16] }

// SameHash compares two hashes in constant time.
func SameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// CheckSecret refuses what cannot be a token secret before it is looked up. A bootstrap
// token that an operator chose (DRIFTWATCH_ADMIN_TOKEN) need not carry SecretPrefix, but must
// be long enough to resist guessing.
func CheckSecret(secret string) error {
	switch {
	case len(secret) < 20:
		return errors.New("a token has at least 20 characters")
	case len(secret) > 512:
		return errors.New("a token has at most 512 characters")
	case strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("a token has no spaces or control characters")
	}
	return nil
}

// Principal is who a request acts as.
type Principal struct {
	// TokenID is the id of the token presented; empty for an anonymous caller.
	TokenID string `json:"token_id,omitempty"`
	// Name is the token's name, recorded on what the caller does ("by").
	Name string `json:"name,omitempty"`
	Role Role   `json:"role"`
}

// ErrUnknownToken means no live token has the secret presented: never created, or revoked.
var ErrUnknownToken = errors.New("unknown or revoked token")
