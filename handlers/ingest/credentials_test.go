package ingest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// credentials is a fake ingest.Credentials over a map, or failing when told.
type credentials struct {
	agents map[string]event.AgentEnrolled_v1
	err    error
}

func (c credentials) Credential(_ context.Context, id string) (event.AgentEnrolled_v1, bool, error) {
	a, ok := c.agents[id]
	return a, ok, c.err
}

// known is a fake ingest.KnownStates.
type known map[string]string

func (k known) LastStateHash(_ context.Context, ci string) (string, bool, error) {
	h, ok := k[ci]
	return h, ok, nil
}

type agentKey struct {
	id   string
	priv ed25519.PrivateKey
	cred event.AgentEnrolled_v1
}

func newAgent(t *testing.T, id string, cis ...string) agentKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return agentKey{id: id, priv: priv, cred: event.AgentEnrolled_v1{AgentID: id, CIIDs: cis, Algorithm: event.KeyAlgorithmEd25519, PublicKey: event.EncodePublicKey(pub)}}
}

func signed(t *testing.T, a agentKey, ci string) event.ObservationSubmitted_v1 {
	t.Helper()
	s := event.ObservationSubmitted_v1{Observation: drift.Observation{
		ID: "obs-" + ci, CIID: ci, CIType: "node", Source: "agent", State: json.RawMessage(`{"files":{}}`),
	}, Scope: []string{"/files/~1etc~1hosts"}}
	s.StateHash, _ = drift.Hash(s.State)
	if err := event.Sign(&s, a.id, a.priv); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandleChecksTheCredentialsOfSignedObservations(t *testing.T) {
	t.Parallel()
	web1, web2 := newAgent(t, "web-01", "web-01"), newAgent(t, "web-02", "web-02")
	creds := credentials{agents: map[string]event.AgentEnrolled_v1{"web-01": web1.cred, "web-02": web2.cred}}
	tampered := signed(t, web1, "web-01")
	tampered.State = json.RawMessage(`{"files":{"/etc/hosts":{"kind":"absent"}}}`)
	rehashed := tampered
	rehashed.StateHash, _ = drift.Hash(rehashed.State)
	impostor := signed(t, newAgent(t, "web-02"), "web-02")
	noAgent := signed(t, web1, "web-01")
	noAgent.AgentID = ""
	unsigned := signed(t, web1, "web-01")
	unsigned.AgentID, unsigned.Signature = "", ""
	cases := map[string]struct {
		sub     event.ObservationSubmitted_v1
		require bool
		want    event.RejectReason
	}{
		"accepts_an_agent_reporting_on_its_own_ci":       {signed(t, web1, "web-01"), true, ""},
		"rejects_an_agent_reporting_on_another_ci":       {signed(t, web1, "web-02"), false, event.RejectForeignCI},
		"rejects_a_signature_by_another_key":             {impostor, false, event.RejectBadSignature},
		"rejects_a_state_changed_after_signing":          {tampered, false, event.RejectBadSignature},
		"rejects_a_state_and_hash_changed_after_signing": {rehashed, false, event.RejectBadSignature},
		"rejects_an_agent_that_was_never_enrolled":       {signed(t, newAgent(t, "db-01"), "db-01"), false, event.RejectUnknownAgent},
		"rejects_a_signature_without_an_agent":           {noAgent, false, event.RejectBadSignature},
		"accepts_an_unsigned_observation_by_default":     {unsigned, false, ""},
		"rejects_an_unsigned_observation_when_told":      {unsigned, true, event.RejectUnsigned},
		"accepts_an_unsigned_repeat_of_the_last_state":   {withState(unsigned, `{"power":"on"}`), true, ""},
		"rejects_an_unsigned_state_that_is_not_the_last": {withState(unsigned, `{"power":"off"}`), true, event.RejectUnsigned},
	}
	last, _ := drift.Hash(json.RawMessage(`{"power":"on"}`))
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := ingest.New(clock, ingest.WithCredentials(creds), ingest.RequireSigned(c.require), ingest.WithKnownStates(known{"web-01": last}))
			if err != nil {
				t.Fatal(err)
			}
			in := event.Message[event.ObservationSubmitted_v1]{ID: "m-" + name, Time: clock(), Fact: c.sub}
			out, err := s.Handle(context.Background(), in)
			if err != nil || len(out) != 1 {
				t.Fatalf("out %v, err %v", out, err)
			}
			switch f := out[0].Fact.(type) {
			case event.ObservationReceived_v1:
				if c.want != "" {
					t.Fatalf("accepted, want rejected for %s", c.want)
				}
			case event.ObservationRejected_v1:
				if f.Reason != c.want || f.CIID != c.sub.CIID || f.MessageID != in.ID || f.Detail == "" || out[0].Subject != c.sub.CIID {
					t.Fatalf("rejection %+v (subject %s), want reason %q", f, out[0].Subject, c.want)
				}
				if again, _ := s.Handle(context.Background(), in); again[0].ID != out[0].ID {
					t.Fatal("a redelivered rejection got another id")
				}
			default:
				t.Fatalf("emitted %T", f)
			}
		})
	}
}

func withState(s event.ObservationSubmitted_v1, state string) event.ObservationSubmitted_v1 {
	s.State, s.StateHash = json.RawMessage(state), ""
	s.CIType = "vm"
	return s
}

func TestHandleRetriesWhenCredentialsCannotBeRead(t *testing.T) {
	t.Parallel()
	a := newAgent(t, "web-01", "web-01")
	s, _ := ingest.New(clock, ingest.WithCredentials(credentials{err: errors.New("read model closed")}))
	_, err := s.Handle(context.Background(), event.Message[event.ObservationSubmitted_v1]{ID: "m", Fact: signed(t, a, "web-01")})
	if err == nil || !strings.Contains(err.Error(), "read model closed") {
		t.Fatalf("err %v", err)
	}
}

func TestNewRefusesToRequireSignaturesItCannotCheck(t *testing.T) {
	t.Parallel()
	if _, err := ingest.New(nil, ingest.RequireSigned(true)); err == nil || !strings.Contains(err.Error(), "credentials: required") || !strings.Contains(err.Error(), "clock: required") {
		t.Fatalf("err %v", err)
	}
}

func TestRejectionsAreLoggedOnceEach(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	s, _ := ingest.New(clock, ingest.WithCredentials(credentials{}))
	d, err := ingest.LogRejections(s, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	forged := signed(t, newAgent(t, "ghost"), "web-01")
	for _, id := range []string{"m1", "m1", "m2"} {
		out, err := d.Handle(context.Background(), event.Message[event.ObservationSubmitted_v1]{ID: id, Fact: forged})
		if err != nil || len(out) != 1 {
			t.Fatalf("out %v err %v", out, err)
		}
	}
	if n := logs.FilterMessage("Observation rejected").Len(); n != 2 {
		t.Fatalf("%d rejection lines for two messages (one redelivered)", n)
	}
	e := logs.All()[0]
	if e.Level != zap.WarnLevel || e.ContextMap()["ci_id"] != "web-01" || e.ContextMap()["agent_id"] != "ghost" || e.ContextMap()["reason"] != "unknown_agent" {
		t.Fatalf("log line %v %v", e.Level, e.ContextMap())
	}
	plain, _ := ingest.LogRejections(s, zap.New(core))
	_, _ = plain.Handle(context.Background(), event.Message[event.ObservationSubmitted_v1]{ID: "m3", Fact: event.ObservationSubmitted_v1{Observation: drift.Observation{CIID: "x", CIType: "vm", State: json.RawMessage(`{}`)}}})
	if n := logs.Len(); n != 2 {
		t.Fatalf("an accepted observation was logged: %d lines", n)
	}
}
