package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/command"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/pipeline/auth"
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
	"github.com/driftwatch/driftwatch/projections/tokens"
)

// now is the fixture's clock.
var now = time.Date(2026, 2, 22, 12, 0, 0, 0, time.UTC)

// publisher is a fake watermill publisher: it keeps what was published, or fails when told.
type publisher struct {
	mu   sync.Mutex
	msgs map[string][]*message.Message
	fail error
}

func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	if p.msgs == nil {
		p.msgs = map[string][]*message.Message{}
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	return nil
}

func (p *publisher) Close() error { return nil }

func (p *publisher) failWith(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// published returns the messages published on topic.
func (p *publisher) published(topic string) []*message.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*message.Message(nil), p.msgs[topic]...)
}

// fixture is the API over real projections, a real record.Emitter, an event store and a
// fake publisher.
type fixture struct {
	t          *testing.T
	store      eventstore.Store
	mem        *memstore.Store // nil when store is not a memstore
	pub        *publisher
	runner     *projections.Runner
	drifts     *drifts.Model
	catalog    *catalog.Catalog
	handler    http.Handler
	reconciler *reconciler
	netbox     *netboxHook
	ids        int
	// secrets holds a live token per role; do sends the admin one unless asked otherwise.
	secrets map[auth.Role]string
	tokens  *tokens.Model
	agents  *agents.Model
	as      string // the bearer token do sends ("" none)
}

// door is the real ingest stage at the door, as cmd/driftwatch wires it.
type door struct{ in *ingest.Ingest }

func (d door) Submit(ctx context.Context, msg event.Message[event.ObservationSubmitted_v1]) (api.Admission, error) {
	out, err := d.in.Submit(ctx, msg)
	return api.Admission{Status: string(out.Status), ObservationID: out.ObservationID, Rejection: out.Rejection, Records: out.Records, Outcome: out}, err
}

// Published implements api.Door.
func (d door) Published(a api.Admission) {
	if out, ok := a.Outcome.(ingest.Outcome); ok {
		d.in.Published(out)
	}
}

// reconciler counts sweeps and answers with fixed figures, or fails when told.
type reconciler struct {
	mu      sync.Mutex
	reasons []string
	fail    error
}

func (r *reconciler) Reconcile(_ context.Context, reason string) (int, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
	return 7, 2, r.fail
}

// netboxSecret is the fixture's NetBox webhook secret.
var netboxSecret = []byte("netbox-webhook-secret")

// netboxHook takes webhooks as the NetBox sync does, parsing them with the real parser, and
// keeps what they touched.
type netboxHook struct {
	mu      sync.Mutex
	touched [][]string
}

func (h *netboxHook) Verify(body []byte, signature string) error {
	return netbox.VerifySignature(netboxSecret, body, signature)
}

func (h *netboxHook) Webhook(_ context.Context, body []byte) (any, error) {
	w, err := netbox.ParseWebhook(body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.touched = append(h.touched, w.Touched.Names)
	return map[string]any{"all": w.Touched.All, "names": w.Touched.Names, "cis": 0, "requested": 0}, nil
}

// newFixture starts the API on a fresh memstore.
func newFixture(t *testing.T) *fixture {
	mem := memstore.New()
	f := newFixtureOn(t, mem, api.Config{})
	f.mem = mem
	return f
}

// newFixtureOn starts the API on the given store.
func newFixtureOn(t *testing.T, store eventstore.Store, cfg api.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, store: store, pub: &publisher{}, netbox: &netboxHook{}, drifts: drifts.New(), catalog: catalog.New(), tokens: tokens.New(), agents: agents.New()}
	r, err := projections.New(projections.Config{Path: filepath.Join(t.TempDir(), "projections.db")},
		projections.Deps{Store: store, Logger: zap.NewNop()}, f.drifts, f.catalog, f.tokens, f.agents)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	f.runner = r
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		_ = r.Close()
	})
	emitter, err := record.NewEmitter(store, f.pub)
	if err != nil {
		t.Fatalf("new emitter: %v", err)
	}
	st, err := states.New(states.Config{}, store)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{}, ingest.Deps{Store: store, States: st, Logger: zap.NewNop(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.reconciler = &reconciler{}
	cmds := command.Tokens{Store: store, Now: func() time.Time { return now }}
	f.secrets = map[auth.Role]string{}
	for _, role := range auth.Roles {
		secret, _, _, err := cmds.Create(t.Context(), "test-"+role.String(), role, "fixture")
		if err != nil {
			t.Fatalf("create %s token: %v", role, err)
		}
		f.secrets[role] = secret
	}
	f.as = f.secrets[auth.Admin]
	clock := func() time.Time { return now }
	var idMu sync.Mutex
	newID := func() string {
		idMu.Lock()
		defer idMu.Unlock()
		f.ids++
		return event.DeriveID("api-test", fmt.Sprint(f.ids))
	}
	f.handler, err = api.New(cfg, api.Deps{
		Store: store, Emitter: emitter, Runner: r, Drifts: f.drifts, Catalog: f.catalog, Agents: f.agents, Logger: zap.NewNop(),
		Door: door{in}, Reconciler: f.reconciler, States: st,
		Tokens: tokens.Verifier{Store: store}, TokenCommands: cmds, TokenList: f.tokens, Metrics: prometheus.NewRegistry(), NetBox: f.netbox, Facts: ansible.Reader{},
		Templates: command.Templates{Store: store, Now: clock, NewID: newID}, Policies: command.Policies{Store: store, Now: clock, NewID: newID},
		Acknowledgements: command.Acknowledgements{Store: store, Now: clock}, Actions: command.Actions{Store: store, Now: clock},
		Now:   clock,
		NewID: newID,
	})
	if err != nil {
		t.Fatalf("new api: %v", err)
	}
	f.handler = conforming(t, f.handler)
	return f
}

// record appends facts as the pipeline would and waits until the read models show them.
func (f *fixture) record(facts ...event.Fact) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 10*time.Second)
	defer cancel()
	var pos eventstore.Position
	for _, fact := range facts {
		f.ids++
		rec := event.Record{ID: event.DeriveID("fixture", fmt.Sprint(f.ids)), Subject: subjectOf(fact), Time: now, Fact: fact}
		ev, stream, err := rec.StoreEvent()
		if err != nil {
			f.t.Fatalf("store event: %v", err)
		}
		res, err := f.store.Append(ctx, stream, eventstore.Any, ev)
		if err != nil {
			f.t.Fatalf("append: %v", err)
		}
		pos = res.Position
	}
	if err := f.runner.WaitFor(ctx, pos); err != nil {
		f.t.Fatalf("wait: %v", err)
	}
}

func subjectOf(fact event.Fact) string {
	switch f := fact.(type) {
	case event.ObservationReceived_v1:
		return f.CIID
	case event.DriftDetected_v1:
		return f.CIID
	case event.DriftAcknowledged_v1:
		return f.CIID
	case event.DriftResolved_v1:
		return f.CIID
	case event.DriftUpdated_v1:
		return f.CIID
	case event.ObservationReceived_v2:
		return f.CIID
	case event.ActionRequested_v1:
		return f.CIID
	case event.ActionSucceeded_v1:
		return f.CIID
	case event.DriftEscalated_v1:
		return f.CIID
	case event.StateRecorded_v1:
		return f.Hash
	}
	return ""
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body is sent as is when it is a string, else encoded as JSON.
func (f *fixture) do(method, path, contentType string, body any) response {
	f.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			f.t.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(raw)
	}
	req := httptest.NewRequestWithContext(f.t.Context(), method, path, r)
	if f.as != "" {
		req.Header.Set("Authorization", "Bearer "+f.as)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// tokenCommands creates and revokes tokens in the fixture's store.
func (f *fixture) tokenCommands() command.Tokens {
	return command.Tokens{Store: f.store, Now: func() time.Time { return now }}
}

// doAs sends a request with the bearer token secret ("" none).
func (f *fixture) doAs(secret, method, path, contentType string, body any) response {
	f.t.Helper()
	was := f.as
	f.as = secret
	defer func() { f.as = was }()
	return f.do(method, path, contentType, body)
}

// want fails the test unless the response has the status, and decodes its body into v.
func (r response) want(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode body %s: %v", r.body, err)
	}
}

// problem fails the test unless the response is a problem with the status naming every
// one of params, and returns it.
func (r response) problem(t *testing.T, status int, params ...string) api.Problem {
	t.Helper()
	var p api.Problem
	r.want(t, status, &p)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem lacks status, title or type: %s", r.body)
	}
	for _, name := range params {
		found := false
		for _, ip := range p.InvalidParams {
			found = found || ip.Name == name
		}
		if !found {
			t.Fatalf("problem does not name %q: %s", name, r.body)
		}
	}
	return p
}
