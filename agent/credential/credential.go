// Package credential holds the agent's identity: its Ed25519 private key (PKCS#8 PEM, mode
// 0600), the node-local fingerprint key of redaction, and enrolment, which registers the
// agent's public key and CIs with a driftwatch server under the operator's enrolment token.
package credential

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/driftwatch/driftwatch/agent/state"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// LoadOrCreateKey reads the agent's private key from path, or creates one there (mode 0600)
// when the file does not exist; created says which.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("generate agent key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, fmt.Errorf("encode agent key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("write agent key: %w", err)
		}
		if err := state.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, err
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read agent key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("agent key %s: not a PEM PRIVATE KEY block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("agent key %s: %w", path, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, false, fmt.Errorf("agent key %s: not an Ed25519 key", path)
	}
	return key, false, nil
}

// LoadOrCreateSecret reads a random secret of n bytes from path, or creates one there (mode
// 0600) when the file does not exist.
func LoadOrCreateSecret(path string, n int) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw = make([]byte, n)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("generate secret: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("write secret: %w", err)
		}
		return raw, state.WriteFile(path, raw, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if len(raw) < n {
		return nil, fmt.Errorf("secret %s: %d bytes, want %d", path, len(raw), n)
	}
	return raw, nil
}

// Enrolment is what an agent registers: the body of POST /agents.
type Enrolment struct {
	AgentID   string   `json:"agent_id"`
	CIIDs     []string `json:"ci_ids"`
	Algorithm string   `json:"algorithm"`
	PublicKey string   `json:"public_key"`
}

// NewEnrolment describes the agent with key and the CIs it reports on.
func NewEnrolment(agentID string, ciIDs []string, key ed25519.PrivateKey) Enrolment {
	return Enrolment{
		AgentID: agentID, CIIDs: ciIDs, Algorithm: event.KeyAlgorithmEd25519,
		PublicKey: event.EncodePublicKey(key.Public().(ed25519.PublicKey)),
	}
}

// Enrol registers e with the driftwatch server at baseURL (http://host:port) under the
// operator's enrolment token.
func Enrol(ctx context.Context, client *http.Client, baseURL, token string, e Enrolment) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode enrolment: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/agents", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("enrol agent %s: %w", e.AgentID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("enrol agent %s: %w", e.AgentID, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("enrol agent %s: the server answered %s: %s", e.AgentID, resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}
