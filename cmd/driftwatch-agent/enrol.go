package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/agent/credential"
	"github.com/driftwatch/driftwatch/agent/publish"
	"github.com/driftwatch/driftwatch/agent/state"
)

// enrolledFile records, in the state dir, the enrolment the server accepted.
const enrolledFile = "enrolled.json"

// enrolled is the content of enrolledFile.
type enrolled struct {
	credential.Enrolment
	Server string `json:"server"`
}

// enrolment returns this agent's enrolment and whether the server has it already.
func enrolment(cfg agent.Config, key ed25519.PrivateKey) (enrolled, bool) {
	want := enrolled{Enrolment: credential.NewEnrolment(cfg.AgentID, []string{cfg.CIID}, key), Server: cfg.Server.HTTPURL}
	raw, err := os.ReadFile(filepath.Join(cfg.StateDir, enrolledFile))
	if err != nil {
		return want, false
	}
	var have enrolled
	if json.Unmarshal(raw, &have) != nil {
		return want, false
	}
	same := have.AgentID == want.AgentID && have.PublicKey == want.PublicKey && have.Server == want.Server && slices.Equal(have.CIIDs, want.CIIDs)
	return want, same
}

// enrol posts the enrolment once and records it.
func enrol(ctx context.Context, cfg agent.Config, e enrolled, token string) error {
	if cfg.Server.HTTPURL == "" {
		return errors.New("server.http_url: required to enrol")
	}
	client := &http.Client{Timeout: cfg.Server.Timeout}
	if err := credential.Enrol(ctx, client, cfg.Server.HTTPURL, token, e.Enrolment); err != nil {
		return err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(cfg.StateDir, enrolledFile), raw, 0o600)
}

// ensureEnrolled enrols the agent unless it is enrolled with its current key and CI; while
// the server cannot be reached it retries with backoff (1s doubling to 30s) until ctx ends.
func ensureEnrolled(ctx context.Context, cfg agent.Config, key ed25519.PrivateKey, token string, log *zap.Logger) error {
	e, done := enrolment(cfg, key)
	if done {
		return nil
	}
	backoff := time.Second
	var last string
	for {
		err := enrol(ctx, cfg, e, token)
		if err == nil {
			log.Info("Agent enrolled", zap.String("agent_id", cfg.AgentID), zap.String("ci_id", cfg.CIID))
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if err.Error() != last {
			log.Warn("Enrolment failed; retrying", zap.String("agent_id", cfg.AgentID), zap.Error(err))
			last = err.Error()
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// enrolOnce is the enrol command: one attempt, with the token from the environment.
func enrolOnce(ctx context.Context, cfg agent.Config, stdout, stderr io.Writer) int {
	token, err := enrolToken()
	if err == nil && token == "" {
		err = errors.New("no enrolment token: set DRIFTWATCH_ENROL_TOKEN or DRIFTWATCH_ENROL_TOKEN_FILE")
	}
	var key ed25519.PrivateKey
	if err == nil {
		key, _, err = credential.LoadOrCreateKey(cfg.Credentials.KeyFile)
	}
	if err == nil {
		e, _ := enrolment(cfg, key)
		if err = enrol(ctx, cfg, e, token); err == nil {
			return printJSON(stdout, stderr, e)
		}
	}
	fmt.Fprintf(stderr, "driftwatch-agent: %v\n", err)
	return 1
}

// newSender returns the Redis sender when the config names Redis, else the HTTP one.
func newSender(cfg agent.Config) (publish.Sender, error) {
	return publish.New(cfg.Server.RedisURL, cfg.Server.HTTPURL, cfg.Server.Stream, cfg.Server.Timeout)
}
