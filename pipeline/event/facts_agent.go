package event

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// KeyAlgorithmEd25519 is the only agent key algorithm: Ed25519 keys and signatures.
const KeyAlgorithmEd25519 = "ed25519"

// AgentEnrolled_v1 records an agent's credential: its public key and the CIs it may report on.
// Enrolling the same agent again replaces the whole credential (key rotation, new CIs).
type AgentEnrolled_v1 struct {
	AgentID string `json:"agent_id"`
	// CIIDs are the only CIs the agent may submit observations for.
	CIIDs []string `json:"ci_ids"`
	// Algorithm is KeyAlgorithmEd25519.
	Algorithm string `json:"algorithm"`
	// PublicKey is the raw 32-byte Ed25519 public key in standard base64.
	PublicKey  string    `json:"public_key"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// Allows reports whether the credential may report on ci.
func (a AgentEnrolled_v1) Allows(ci string) bool { return slices.Contains(a.CIIDs, ci) }

// RejectReason says why ingest refused an observation for its credentials.
type RejectReason string

// Reasons for ObservationRejected_v1.
const (
	// RejectUnsigned: the server requires signed observations and this one has no agent_id.
	RejectUnsigned RejectReason = "unsigned"
	// RejectUnknownAgent: no enrolled agent has the observation's agent_id.
	RejectUnknownAgent RejectReason = "unknown_agent"
	// RejectBadSignature: the signature is missing, malformed or does not verify.
	RejectBadSignature RejectReason = "bad_signature"
	// RejectForeignCI: the signature verifies but the CI does not belong to the agent.
	RejectForeignCI RejectReason = "foreign_ci"
)

// Valid reports whether r is a known reason.
func (r RejectReason) Valid() bool {
	switch r {
	case RejectUnsigned, RejectUnknownAgent, RejectBadSignature, RejectForeignCI:
		return true
	}
	return false
}

// ObservationRejected_v1 records an observation ingest refused for its credentials, instead of
// an ObservationReceived_v1. It keeps who claimed what, never the state itself.
type ObservationRejected_v1 struct {
	ObservationID string       `json:"observation_id,omitempty"`
	CIID          string       `json:"ci_id"`
	AgentID       string       `json:"agent_id,omitempty"`
	Source        string       `json:"source,omitempty"`
	Reason        RejectReason `json:"reason"`
	// Detail explains Reason for an operator ("ci web-02 is not enrolled for agent web-01").
	Detail string `json:"detail"`
	// MessageID is the id of the submitted message that carried the observation.
	MessageID  string    `json:"message_id"`
	StateHash  string    `json:"state_hash,omitempty"`
	ObservedAt time.Time `json:"observed_at,omitzero"`
	RejectedAt time.Time `json:"rejected_at"`
}

// FactType implements Fact.
func (AgentEnrolled_v1) FactType() string { return TypeAgentEnrolled }

// FactType implements Fact.
func (ObservationRejected_v1) FactType() string { return TypeObservationRejected }

// signingDomain separates observation signatures from anything else an agent key could sign.
const signingDomain = "driftwatch observation signature v1\n"

// SigningPayload returns the bytes an agent signs and ingest verifies: a domain prefix and the
// canonical JSON (drift.Canonical) of the submission with its signature left out and its state
// replaced by null. The state is covered through state_hash, which is required and which
// Verify checks against the state: a node's state can be large, and is hashed once instead of
// canonicalised again. Canonical form makes the signature survive any re-encoding on the way
// (HTTP, Redis, the event store).
func SigningPayload(s ObservationSubmitted_v1) ([]byte, error) {
	if s.StateHash == "" {
		return nil, errors.New("state_hash: required on a signed observation")
	}
	s.Signature, s.State = "", nil
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode observation for signing: %w", err)
	}
	c, err := drift.Canonical(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalise observation for signing: %w", err)
	}
	return append([]byte(signingDomain), c...), nil
}

// Sign sets s.AgentID and s.Signature: key's signature over SigningPayload.
func Sign(s *ObservationSubmitted_v1, agentID string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("sign observation: not an Ed25519 private key")
	}
	s.AgentID = agentID
	p, err := SigningPayload(*s)
	if err != nil {
		return err
	}
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, p))
	return nil
}

// Verify checks s.Signature against the public key of credential c. It does not check that
// the CI belongs to c (see AgentEnrolled_v1.Allows).
func Verify(s ObservationSubmitted_v1, c AgentEnrolled_v1) error {
	h, err := drift.Hash(s.State)
	if err != nil {
		return errors.New("state_hash: the state is not a JSON document, so it cannot match")
	}
	return VerifyHashed(s, c, h)
}

// VerifyHashed is Verify for a submission whose state's canonical hash is known already.
func VerifyHashed(s ObservationSubmitted_v1, c AgentEnrolled_v1, stateHash string) error {
	if c.Algorithm != KeyAlgorithmEd25519 {
		return fmt.Errorf("agent %s: key algorithm %q is not supported", c.AgentID, c.Algorithm)
	}
	pub, err := ParsePublicKey(c.PublicKey)
	if err != nil {
		return fmt.Errorf("agent %s: %w", c.AgentID, err)
	}
	if s.Signature == "" {
		return errors.New("signature: missing")
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("signature: not a base64 Ed25519 signature")
	}
	p, err := SigningPayload(s)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, p, sig) {
		return errors.New("signature: does not verify with the agent's public key")
	}
	if stateHash != s.StateHash {
		return errors.New("state_hash: does not match the state, which the signature covers through it")
	}
	return nil
}

// EncodePublicKey renders an Ed25519 public key as AgentEnrolled_v1.PublicKey.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKey reads AgentEnrolled_v1.PublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public_key: not a base64 Ed25519 public key (32 bytes)")
	}
	return ed25519.PublicKey(b), nil
}
