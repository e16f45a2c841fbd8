package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/projections/tokens"
	"github.com/prometheus/client_golang/prometheus"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/record"
	"github.com/driftwatch/driftwatch/pipeline/states"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/api"
	"github.com/driftwatch/driftwatch/projections/catalog"
	"github.com/driftwatch/driftwatch/projections/drifts"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

const enrolToken = "operator-token-0123456789"

// enrolFixture is the API with the agents read model and an enrolment token.
type enrolFixture struct {
	t       *testing.T
	store   *memstore.Store
	agents  *agents.Model
	runner  *projections.Runner
	handler http.Handler
	viewer  string // a viewer token's secret
}

func newEnrolFixture(t *testing.T, token string) *enrolFixture {
	t.Helper()
	f := &enrolFixture{t: t, store: memstore.New(), agents: agents.New()}
	r, err := projections.New(projections.Config{Path: filepath.Join(t.TempDir(), "p.db")},
		projections.Deps{Store: f.store, Logger: zap.NewNop()}, drifts.New(), catalog.New(), f.agents)
	if err != nil {
		t.Fatal(err)
	}
	f.runner = r
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = r.Close()
	})
	emitter, err := record.NewEmitter(f.store, &publisher{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := states.New(states.Config{}, f.store)
	in, err := ingest.New(ingest.Config{}, ingest.Deps{Store: f.store, States: st, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	cmds := command.Tokens{Store: f.store}
	if f.viewer, _, _, err = cmds.Create(t.Context(), "viewer", auth.Viewer, "test"); err != nil {
		t.Fatal(err)
	}
	f.handler, err = api.New(api.Config{EnrolToken: token}, api.Deps{
		Store: f.store, Emitter: emitter, Runner: r, Drifts: drifts.New(), Catalog: catalog.New(), Agents: f.agents,
		Door: door{in}, Reconciler: &reconciler{}, States: st,
		Tokens: tokens.Verifier{Store: f.store}, TokenCommands: cmds, TokenList: tokens.New(), Metrics: prometheus.NewRegistry(),
		Templates: command.Templates{Store: f.store}, Policies: command.Policies{Store: f.store},
		Acknowledgements: command.Acknowledgements{Store: f.store}, Actions: command.Actions{Store: f.store},
		Logger: zap.NewNop(), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = conforming(t, f.handler)
	return f
}

// enrol posts an enrolment with the given bearer token ("" for none).
func (f *enrolFixture) enrol(token string, body any) response {
	f.t.Helper()
	raw, _ := json.Marshal(body)
	req := httptest.NewRequestWithContext(f.t.Context(), http.MethodPost, "/agents", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (f *enrolFixture) get(path string) response {
	f.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(f.t.Context(), http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+f.viewer)
	f.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func publicKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return event.EncodePublicKey(pub)
}

func TestEnrolmentRecordsTheCredentialForIngest(t *testing.T) {
	t.Parallel()
	f := newEnrolFixture(t, enrolToken)
	key := publicKey(t)
	var a agents.Agent
	f.enrol(enrolToken, map[string]any{"agent_id": "web-01", "ci_ids": []string{" web-01 ", "web-01"}, "public_key": key}).want(t, http.StatusCreated, &a)
	if a.AgentID != "web-01" || len(a.CIIDs) != 1 || a.CIIDs[0] != "web-01" || a.PublicKey != key || a.Algorithm != event.KeyAlgorithmEd25519 {
		t.Fatalf("agent %+v", a)
	}
	// The answer comes once ingest's read model knows the agent.
	if c, found, _ := f.agents.Credential(t.Context(), "web-01"); !found || c.PublicKey != key {
		t.Fatalf("credential %+v found %v", c, found)
	}
	n := f.store.Len()
	f.enrol(enrolToken, map[string]any{"agent_id": "web-01", "ci_ids": []string{"web-01"}, "public_key": key}).want(t, http.StatusOK, nil)
	if f.store.Len() != n {
		t.Fatal("the same enrolment again recorded another fact")
	}
	rotated := publicKey(t)
	f.enrol(enrolToken, map[string]any{"agent_id": "web-01", "ci_ids": []string{"web-01"}, "public_key": rotated}).want(t, http.StatusOK, &a)
	if a.PublicKey != rotated {
		t.Fatalf("key rotation kept %s", a.PublicKey)
	}
	var l struct {
		Items []agents.Agent `json:"items"`
		Total int            `json:"total"`
	}
	f.get("/agents").want(t, http.StatusOK, &l)
	if l.Total != 1 || l.Items[0].PublicKey != rotated {
		t.Fatalf("list %+v", l)
	}
	f.get("/agents/web-01").want(t, http.StatusOK, &a)
	f.get("/agents/nobody").problem(t, http.StatusNotFound)
}

func TestEnrolmentNeedsTheEnrolmentOrAnAdminToken(t *testing.T) {
	t.Parallel()
	f := newEnrolFixture(t, enrolToken)
	body := map[string]any{"agent_id": "web-01", "ci_ids": []string{"web-01"}, "public_key": publicKey(t)}
	for name, token := range map[string]string{"refuses_no_token": "", "refuses_a_wrong_token": "guess-0123456789012"} {
		r := f.enrol(token, body)
		r.problem(t, http.StatusUnauthorized)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
	}
	// Without an enrolment token configured, one presented is just unknown.
	newEnrolFixture(t, "").enrol(enrolToken, body).problem(t, http.StatusUnauthorized)
	if f.store.Len() != 1 { // the fixture's viewer token alone
		t.Fatal("a refused enrolment was recorded")
	}
}

func TestEnrolmentNamesEveryBadField(t *testing.T) {
	t.Parallel()
	f := newEnrolFixture(t, enrolToken)
	f.enrol(enrolToken, map[string]any{"agent_id": "no spaces", "ci_ids": []string{" "}, "algorithm": "rsa", "public_key": "AAAA"}).
		problem(t, http.StatusBadRequest, "agent_id", "ci_ids[0]", "algorithm", "public_key")
	f.enrol(enrolToken, map[string]any{"agent_id": "a", "public_key": publicKey(t), "extra": 1}).problem(t, http.StatusBadRequest, "extra")
}

func TestRejectedObservationsAreListedNewestFirst(t *testing.T) {
	t.Parallel()
	f := newEnrolFixture(t, enrolToken)
	for i, ci := range []string{"web-02", "db-01"} {
		rec := event.Record{ID: event.DeriveID("rej", ci), Subject: ci, Time: now, Fact: event.ObservationRejected_v1{
			CIID: ci, AgentID: "web-01", Reason: event.RejectForeignCI, Detail: "d", MessageID: ci, RejectedAt: now.Add(time.Duration(i) * time.Second)}}
		ev, stream, _ := rec.StoreEvent()
		res, err := f.store.Append(t.Context(), stream, eventstore.Any, ev)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err = f.runner.WaitFor(ctx, res.Position)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	var l struct {
		Items []agents.Rejection `json:"items"`
	}
	f.get("/observations/rejected?limit=5").want(t, http.StatusOK, &l)
	if len(l.Items) != 2 || l.Items[0].CIID != "db-01" {
		t.Fatalf("rejections %+v", l.Items)
	}
	f.get("/observations/rejected?limit=0").problem(t, http.StatusBadRequest, "limit")
}
