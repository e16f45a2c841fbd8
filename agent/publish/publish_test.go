package publish_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent/publish"
	"github.com/driftwatch/driftwatch/agent/spool"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func submission(t *testing.T, id string) (event.ObservationSubmitted_v1, event.AgentEnrolled_v1) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := event.ObservationSubmitted_v1{Observation: drift.Observation{
		ID: id, CIID: "node-1", CIType: "node", Source: "agent", ObservedAt: time.Now().UTC(),
		State:   json.RawMessage(`{"files":{"/etc/hosts":{"kind":"absent"}}}`),
		Details: map[string]string{"/files/~1etc~1hosts": "removed /etc/hosts <&> \u2028"},
	}, Scope: []string{"/files/~1etc~1hosts"}}
	s.StateHash, _ = drift.Hash(s.State)
	if err := event.Sign(&s, "node-1", priv); err != nil {
		t.Fatal(err)
	}
	return s, event.AgentEnrolled_v1{AgentID: "node-1", CIIDs: []string{"node-1"}, Algorithm: event.KeyAlgorithmEd25519, PublicKey: event.EncodePublicKey(pub)}
}

func TestRedisSendsTheBusWireFormatAndTheSignatureSurvives(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r, err := publish.NewRedis(srv.URL(), "observations-test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sub, cred := submission(t, "obs-1")
	doc, _ := json.Marshal(sub)
	if err := r.Send(t.Context(), doc); err != nil {
		t.Fatal(err)
	}
	entries, err := srv.Client().XRange(t.Context(), "observations-test", "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries %v (%v)", entries, err)
	}
	msg := redisbus.DecodeEntry(entries[0].Values, redisbus.DefaultMaxEntryBytes)
	got, err := event.DecodeMessage[event.ObservationSubmitted_v1](msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != publish.SubmissionID(sub.CIID, sub.ID) || got.Subject != "node-1" {
		t.Fatalf("message id %s subject %s", got.ID, got.Subject)
	}
	if err := event.Verify(got.Fact, cred); err != nil {
		t.Fatalf("the signature did not survive the wire: %v", err)
	}
}

func TestHTTPClassifiesTheServersAnswers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	status := http.StatusAccepted
	var got event.ObservationSubmitted_v1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/observations" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "wrong request", http.StatusNotFound)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	h := publish.NewHTTP(srv.URL+"/", time.Second)
	sub, cred := submission(t, "obs-2")
	for _, c := range []struct {
		status    int
		ok, retry bool
	}{{http.StatusAccepted, true, false}, {http.StatusBadRequest, false, false}, {http.StatusServiceUnavailable, false, true}, {http.StatusTooManyRequests, false, true}} {
		mu.Lock()
		status = c.status
		mu.Unlock()
		doc, _ := json.Marshal(sub)
		err := h.Send(t.Context(), doc)
		if (err == nil) != c.ok || (err != nil && fault.IsPermanent(err) == c.retry) {
			t.Errorf("status %d: err %v (permanent %v)", c.status, err, fault.IsPermanent(err))
		}
	}
	if err := event.Verify(got, cred); err != nil {
		t.Fatalf("the signature did not survive HTTP: %v", err)
	}
}

// flaky fails while down is set, and keeps what it was sent.
type flaky struct {
	mu   sync.Mutex
	down error
	got  []string
}

func (f *flaky) Send(_ context.Context, doc []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s event.ObservationSubmitted_v1
	if err := json.Unmarshal(doc, &s); err != nil {
		return err
	}
	if f.down != nil {
		return f.down
	}
	if s.ID == "refused" {
		return fault.Permanent(errors.New("400 Bad Request"))
	}
	f.got = append(f.got, s.ID)
	return nil
}

func (f *flaky) Close() error { return nil }

func TestOutboxSendsInOrderAfterTheServerComesBack(t *testing.T) {
	t.Parallel()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.jsonl"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	f := &flaky{down: errors.New("connection refused")}
	o, err := publish.NewOutbox(f, sp, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, id := range []string{"a", "refused", "b", "c"} {
		s, _ := submission(t, id)
		if err := o.Submit(s); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(5 * time.Second)
	for o.Stats().Connected {
		select {
		case <-deadline:
			t.Fatal("the outbox never noticed the server was down")
		case <-time.After(5 * time.Millisecond):
		}
	}
	f.mu.Lock()
	f.down = nil
	f.mu.Unlock()
	for {
		sent, empty := o.Drained()
		if empty {
			break
		}
		select {
		case <-sent:
		case <-deadline:
			t.Fatalf("not drained: %+v", o.Stats())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != 3 || f.got[0] != "a" || f.got[1] != "b" || f.got[2] != "c" {
		t.Fatalf("sent %v, want a, b, c in order", f.got)
	}
	if st := o.Stats(); !st.Connected || st.Sent != 3 || st.Refused != 1 || st.Spooled != 0 {
		t.Fatalf("stats %+v", st)
	}
}
