package main_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/esdbfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// post sends a raw body with a content type and the admin token; it returns the status and
// the answer.
func (s *server) post(path, contentType string, body []byte) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestTheDoorRefusesWhatALaterStageWouldDrop sends, to a running server, each input that was
// once answered 202 and dropped later: each is refused at once with a problem naming the
// field, and none leaves a trace in the read models.
func TestTheDoorRefusesWhatALaterStageWouldDrop(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	cases := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"a_ci_id_of_10000_characters", "application/json", `{"ci_id":"` + strings.Repeat("w", 10000) + `","ci_type":"vm","state":{}}`, 400, "ci_id"},
		{"a_number_outside_float64", "application/json", `{"ci_id":"door-1","ci_type":"vm","state":{"n":1e999}}`, 400, "state"},
		{"invalid_utf8_in_an_id", "application/json", "{\"ci_id\":\"door\xff\",\"ci_type\":\"vm\",\"state\":{}}", 400, "ci_id"},
		{"a_duplicate_key", "application/json", `{"ci_id":"door-1","ci_type":"vm","state":{"a":1,"a":2}}`, 400, "state"},
		{"a_newline_in_an_id", "application/json", `{"ci_id":"door\n1","ci_type":"vm","state":{}}`, 400, "ci_id"},
		{"an_observation_from_year_9999", "application/json", `{"ci_id":"door-1","ci_type":"vm","state":{},"observed_at":"9999-01-01T00:00:00Z"}`, 400, "observed_at"},
		{"latin1", "application/json; charset=latin1", `{"ci_id":"door-1","ci_type":"vm","state":{}}`, 415, ""},
	}
	for _, c := range cases {
		status, body := s.post("/observations", c.contentType, []byte(c.body))
		if status != c.status {
			t.Errorf("%s: %d (%s), want %d", c.name, status, body, c.status)
			continue
		}
		if c.field != "" && !strings.Contains(body, `"name":"`+c.field+`"`) {
			t.Errorf("%s: the problem does not name %s: %s", c.name, c.field, body)
		}
	}
	var cis struct {
		Total int `json:"total"`
	}
	s.do(http.MethodGet, "/drift/cis", nil, &cis)
	if cis.Total != 0 {
		t.Fatalf("refused observations left %d CIs in the read models", cis.Total)
	}
}

// TestALargeKeyFlowsThroughRedisToADrift: a state with a 500 kB key was accepted, and the
// drift it caused was too large for a bus entry, retried and poisoned. Every state the door
// accepts now fits every stage's output.
func TestALargeKeyFlowsThroughRedisToADrift(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL())
	key := strings.Repeat("k", 500_000)
	s.put(http.MethodPut, "/templates/big-vm", map[string]any{"template_id": "big-vm", "resource_type": "bigvm",
		"template_definition": map[string]any{key: "on"}})
	s.observe(map[string]any{"id": "big-1", "ci_id": "big-01", "ci_type": "bigvm", "state": map[string]any{key: "off"}})
	var l driftList
	proctest.WaitUntil(t, 10*time.Second, "the drift on the 500 kB field is open", func() bool {
		l = s.drifts("?ci=big-01&status=open")
		return l.Total == 1
	})
	if l.Items[0].Field != "/"+key || string(l.Items[0].Actual) != `"off"` {
		t.Fatalf("drift on %d-byte field %.40q, actual %s", len(l.Items[0].Field), l.Items[0].Field, l.Items[0].Actual)
	}
	if n, _ := redis.Client().XLen(context.Background(), "driftwatch.poison.v1").Result(); n != 0 {
		t.Fatalf("%d entries poisoned", n)
	}
}

// TestAThousandIdenticalObservationsPublishAtMostOneEntryPerStream: 1,000 identical POSTs
// published 6,000 stream entries. An observation that repeats what driftwatch knows is
// recorded at most once a minute and publishes nothing downstream.
func TestAThousandIdenticalObservationsPublishAtMostOneEntryPerStream(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL(), "--redis-trim-interval", "-1s")
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	withID := observation("same-1", "same-01", "off")
	withoutID := observation("", "same-01", "off")
	delete(withoutID, "id")
	for i := range 1000 {
		if i%2 == 0 {
			s.observe(withID)
		} else {
			s.observe(withoutID)
		}
	}
	s.waitForDrifts("same-01", "open", 1)
	ctx := context.Background()
	settled := map[string]int64{}
	proctest.WaitUntil(t, 10*time.Second, "the streams stop growing", func() bool {
		now := map[string]int64{}
		keys, err := redis.Client().Keys(ctx, "*").Result()
		if err != nil {
			return false
		}
		for _, k := range keys {
			if typ, _ := redis.Client().Type(ctx, k).Result(); typ != "stream" {
				continue
			}
			info, err := redis.Client().XInfoStream(ctx, k).Result()
			if err != nil {
				return false
			}
			now[k] = info.EntriesAdded
		}
		same := len(now) == len(settled)
		for k, n := range now {
			same = same && settled[k] == n
		}
		settled = now
		time.Sleep(300 * time.Millisecond)
		return same && len(now) > 0
	})
	for stream, n := range settled {
		if n > 1 {
			t.Errorf("stream %s had %d entries added, want at most 1", stream, n)
		}
	}
	if settled["drift.detected"] != 1 {
		t.Errorf("drift.detected had %d entries added, want the one drift", settled["drift.detected"])
	}
}

// TestAnOpenDriftShowsItsLatestActualValue: an open drift kept its first actual value; a
// second rogue network connected later did not show.
func TestAnOpenDriftShowsItsLatestActualValue(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/box", map[string]any{"template_id": "box", "resource_type": "box",
		"template_definition": map[string]any{"networks": []string{"lan"}}})
	s.observe(map[string]any{"id": "box-1", "ci_id": "box-01", "ci_type": "box", "state": map[string]any{"networks": []string{"lan", "rogue"}}})
	s.waitForDrifts("box-01", "open", 1)
	s.observe(map[string]any{"id": "box-2", "ci_id": "box-01", "ci_type": "box", "state": map[string]any{"networks": []string{"lan", "rogue", "rogue2"}}})
	var d struct {
		Actual      json.RawMessage `json:"actual"`
		FirstActual json.RawMessage `json:"first_actual"`
		Updates     int             `json:"updates"`
	}
	proctest.WaitUntil(t, 5*time.Second, "the open drift shows the second rogue network", func() bool {
		l := s.drifts("?ci=box-01&status=open")
		if l.Total != 1 {
			return false
		}
		s.do(http.MethodGet, "/drift/events/"+l.Items[0].DriftID, nil, &d)
		return string(d.Actual) == `["lan","rogue","rogue2"]`
	})
	if string(d.FirstActual) != `["lan","rogue"]` || d.Updates != 1 {
		t.Fatalf("first actual %s, %d updates; want the first value kept and one update", d.FirstActual, d.Updates)
	}
	if l := s.drifts("?ci=box-01"); l.Total != 1 {
		t.Fatalf("%d drifts, want the one drift updated", l.Total)
	}
}

// TestAWorkerWithoutASharedStoreExitsNamingTheFlag: a worker without --eventstore ran and
// produced nothing, each worker on a store of its own.
func TestAWorkerWithoutASharedStoreExitsNamingTheFlag(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	out, err := exec.Command(driftwatchBinary(t), "worker", "diff", "--redis", redis.URL(), "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--eventstore") {
		t.Fatalf("worker without --eventstore: %v, output %s; want an exit naming --eventstore", err, out)
	}
}

// agentKey is an enrolled agent's identity for a test.
type agentKey struct {
	id   string
	priv ed25519.PrivateKey
}

// enrol enrols an agent for cis through POST /agents.
func (s *server) enrol(id string, cis ...string) agentKey {
	s.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	if code := s.do(http.MethodPost, "/agents", map[string]any{"agent_id": id, "ci_ids": cis, "public_key": event.EncodePublicKey(pub)}, nil); code != http.StatusCreated && code != http.StatusOK {
		s.t.Fatalf("enrol %s: %d", id, code)
	}
	return agentKey{id: id, priv: priv}
}

// signedObservation is an observation of a vm signed by a.
func signedObservation(t *testing.T, a agentKey, id, ci, power string) event.ObservationSubmitted_v1 {
	t.Helper()
	o := event.ObservationSubmitted_v1{Observation: drift.Observation{ID: id, CIID: ci, CIType: "vm", Source: "agent",
		State: json.RawMessage(`{"power_state":"` + power + `","cpu_count":2,"memory_mb":4096}`)}}
	o.StateHash, _ = drift.Hash(o.State)
	if err := event.Sign(&o, a.id, a.priv); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestWorkersRequiringSignaturesTakeSignedObservationsAndReconcile runs every stage as a
// worker over Redis with DRIFTWATCH_REQUIRE_SIGNED=1: a signed observation opens a drift, an
// unsigned one is refused with 401 and recorded, and a reconcile after the template changed
// resolves the drift (reconcile once re-submitted unsigned observations, which a worker ingest
// built apart rejected).
func TestWorkersRequiringSignaturesTakeSignedObservationsAndReconcile(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	es := esdbfake.Start(t)
	env := []string{"DRIFTWATCH_REQUIRE_SIGNED=1"}
	engines := []string{"--redis", redis.URL(), "--eventstore", es.URL()}
	s := startServerEnv(t, t.TempDir(), env, append([]string{"--stages", "none"}, engines...)...)
	for _, stage := range []string{"ingest", "enrich", "diff", "policy", "emit"} {
		w := exec.Command(driftwatchBinary(t), append([]string{"worker", stage, "--consumer", "signed-" + stage, "--data-dir", t.TempDir()}, engines...)...)
		w.Env = append(w.Environ(), env...)
		p := proctest.Start(t, "worker "+stage, w)
		proctest.WaitUntil(t, 20*time.Second, "worker "+stage+" runs", func() bool {
			return strings.Contains(p.Output.String(), "Running worker")
		})
	}
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	agent := s.enrol("agent-07", "web-07")
	if code := proctest.DoJSON(t, http.MethodPost, s.url+"/observations", signedObservation(t, agent, "signed-1", "web-07", "off"), nil); code != http.StatusAccepted {
		t.Fatalf("signed observation without a token: %d, want 202", code)
	}
	s.waitForDrifts("web-07", "open", 1)

	if code := s.do(http.MethodPost, "/observations", observation("unsigned-1", "web-07", "on"), nil); code != http.StatusUnauthorized {
		t.Fatalf("unsigned observation: %d, want 401", code)
	}
	var rejected struct {
		Items []struct {
			CIID   string `json:"ci_id"`
			Reason string `json:"reason"`
		} `json:"items"`
	}
	s.do(http.MethodGet, "/observations/rejected", nil, &rejected)
	if len(rejected.Items) != 1 || rejected.Items[0].Reason != string(event.RejectUnsigned) {
		t.Fatalf("rejections %+v, want the unsigned observation", rejected.Items)
	}

	matching := map[string]any{"template_id": "web-vm", "resource_type": "vm",
		"template_definition": map[string]any{"power_state": "off", "cpu_count": 2, "memory_mb": 4096}}
	s.put(http.MethodPut, "/templates/web-vm", matching)
	if code := s.do(http.MethodPost, "/drift/reconcile", nil, nil); code/100 != 2 {
		t.Fatalf("reconcile: %d", code)
	}
	proctest.WaitUntil(t, 10*time.Second, "the reconcile resolves the drift", func() bool {
		return s.drifts("?ci=web-07&status=resolved").Total == 1
	})
	s.do(http.MethodGet, "/observations/rejected", nil, &rejected)
	if len(rejected.Items) != 1 {
		t.Fatalf("%d rejections after the reconcile, want still the one unsigned observation", len(rejected.Items))
	}
}

// TestRebuildReplacesTheReadModelsWithDriftwatchStopped: `driftwatch rebuild` refuses a data
// dir a running server uses, and with the server stopped rebuilds read models that answer as
// before.
func TestRebuildReplacesTheReadModelsWithDriftwatchStopped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	exercise(t, s, "web-09")
	before := s.drifts("?ci=web-09")
	out, err := exec.Command(driftwatchBinary(t), "rebuild", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("rebuild under a running server: %v, %s; want a refusal", err, out)
	}
	s.Stop()
	if out, err := exec.Command(driftwatchBinary(t), "rebuild", "--data-dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("rebuild: %v, %s", err, out)
	}
	s = startServer(t, dir)
	after := s.drifts("?ci=web-09")
	if after.Total != before.Total || after.Items[0].DriftID != before.Items[0].DriftID || after.Items[0].Status != "resolved" {
		t.Fatalf("after the rebuild %+v, before %+v", after, before)
	}
}
