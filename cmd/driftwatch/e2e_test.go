package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
)

// driftView is one drift as GET /drift/events lists it.
type driftView struct {
	DriftID  string          `json:"drift_id"`
	Status   string          `json:"status"`
	CIID     string          `json:"ci_id"`
	Field    string          `json:"field"`
	Category string          `json:"category"`
	Desired  json.RawMessage `json:"desired"`
	Actual   json.RawMessage `json:"actual"`
	Detail   string          `json:"detail"`
}

// driftList is the answer of GET /drift/events.
type driftList struct {
	Items []driftView `json:"items"`
	Total int         `json:"total"`
}

var vmTemplate = map[string]any{
	"template_id": "web-vm", "resource_type": "vm",
	"template_definition": map[string]any{"power_state": "on", "cpu_count": 2, "memory_mb": 4096},
}

func observation(id, ci, power string) map[string]any {
	return map[string]any{"id": id, "ci_id": ci, "ci_type": "vm",
		"state": map[string]any{"power_state": power, "cpu_count": 2, "memory_mb": 4096}}
}

func (s *server) drifts(query string) driftList {
	s.t.Helper()
	var l driftList
	if code := s.do(http.MethodGet, "/drift/events"+query, nil, &l); code != http.StatusOK {
		s.t.Fatalf("GET /drift/events%s: %d", query, code)
	}
	return l
}

func (s *server) observe(obs map[string]any) {
	s.t.Helper()
	if code := s.do(http.MethodPost, "/observations", obs, nil); code != http.StatusAccepted {
		s.t.Fatalf("POST /observations: %d", code)
	}
}

// waitForDrifts waits until GET /drift/events?ci=... shows want drifts in the given status.
func (s *server) waitForDrifts(ci, status string, want int) driftList {
	s.t.Helper()
	var l driftList
	proctest.WaitUntil(s.t, 2*time.Second, fmt.Sprintf("%s has %d %s drift(s)", ci, want, status), func() bool {
		l = s.drifts("?ci=" + ci + "&status=" + status)
		return l.Total == want
	})
	return l
}

// exercise runs the acceptance walk: a deviating observation opens one drift with
// desired and actual values within 2 s, the same again leaves one, a matching one resolves it.
func exercise(t *testing.T, s *server, ci string) {
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.observe(observation(ci+"-1", ci, "off"))
	l := s.waitForDrifts(ci, "open", 1)
	if d := l.Items[0]; d.Field != "/power_state" || string(d.Desired) != `"on"` || string(d.Actual) != `"off"` {
		t.Fatalf("drift %+v, want /power_state desired on actual off", d)
	}
	s.observe(observation(ci+"-1", ci, "off")) // the same observation, redelivered
	s.observe(observation(ci+"-2", ci, "off")) // the same state, observed again
	s.observe(observation(ci+"-3", ci, "on"))
	s.waitForDrifts(ci, "resolved", 1)
	if l := s.drifts("?ci=" + ci); l.Total != 1 {
		t.Fatalf("%d drifts for %s, want exactly 1 (opened once, then resolved)", l.Total, ci)
	}
}

func TestServeOnEmbeddedDefaultsDetectsAndResolvesDrift(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	exercise(t, s, "web-01")
}

func TestServeOnRedisPublishesDriftDetectedAsCloudEvents(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL())
	exercise(t, s, "web-02")

	entries, err := redis.Client().XRange(context.Background(), "drift.detected", "-", "+").Result()
	if err != nil || len(entries) == 0 {
		t.Fatalf("XRANGE drift.detected: %d entries, %v", len(entries), err)
	}
	var ce struct {
		SpecVersion string `json:"specversion"`
		Type        string `json:"type"`
		Subject     string `json:"subject"`
		Data        struct {
			CIID  string `json:"ci_id"`
			Field string `json:"field"`
		} `json:"data"`
	}
	raw, _ := entries[0].Values["event"].(string)
	if err := json.Unmarshal([]byte(raw), &ce); err != nil {
		t.Fatalf("event field %q: %v", raw, err)
	}
	if ce.SpecVersion != "1.0" || ce.Type != "io.driftwatch.drift.detected.v1" || ce.Subject != "web-02" || ce.Data.Field != "/power_state" {
		t.Fatalf("drift.detected entry %s", raw)
	}
}

func TestServeParksAMalformedStreamEntryAndKeepsGoing(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	s := startServer(t, t.TempDir(), "--redis", redis.URL())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	ctx := context.Background()
	const observations = "driftwatch.observations.v1"
	for _, values := range []map[string]any{
		{"payload": "no event field"},
		{"event": "not json"},
		{"event": `{"specversion":"0.3","id":"x","source":"s","type":"t"}`},
	} {
		if err := redis.Client().XAdd(ctx, &goredis.XAddArgs{Stream: observations, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s.observe(observation("after-poison", "web-03", "off"))
	s.waitForDrifts("web-03", "open", 1)

	var poisoned []string
	proctest.WaitUntil(t, 5*time.Second, "three entries in the poison stream", func() bool {
		entries, err := redis.Client().XRange(ctx, "driftwatch.poison.v1", "-", "+").Result()
		if err != nil {
			return false
		}
		poisoned = poisoned[:0]
		for _, e := range entries {
			raw, _ := e.Values["event"].(string)
			poisoned = append(poisoned, raw)
		}
		return len(entries) == 3
	})
	for i, want := range []string{`no \"event\" field`, `not a CloudEvents JSON document`, `specversion`} {
		if !strings.Contains(poisoned[i], want) {
			t.Errorf("poison entry %d = %s, want a reason mentioning %s", i, poisoned[i], want)
		}
	}
}

func TestServeKeepsAnAcceptedObservationThroughKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	// Several CIs, so that the kill lands while some are still in the pipeline.
	cis := []string{"kill-1", "kill-2", "kill-3", "kill-4", "kill-5"}
	for _, ci := range cis {
		s.observe(observation(ci+"-before", ci, "off"))
	}
	s.Kill()

	s = startServer(t, dir)
	for _, ci := range cis {
		s.waitForDrifts(ci, "open", 1)
		s.observe(observation(ci+"-before", ci, "off"))
		s.observe(observation(ci+"-after", ci, "off"))
	}
	for _, ci := range cis {
		s.observe(observation(ci+"-sync", ci, "on"))
		s.waitForDrifts(ci, "resolved", 1)
		if l := s.drifts("?ci=" + ci); l.Total != 1 {
			t.Fatalf("%s: %d drifts after restart, want 1", ci, l.Total)
		}
	}
	s.Stop()
	assertNoDuplicateFacts(t, dir)
}

// assertNoDuplicateFacts reads the whole embedded event store in dataDir (see
// assertStoreHoldsEachFactOnce).
func assertNoDuplicateFacts(t *testing.T, dataDir string) {
	t.Helper()
	store, err := bolt.Open(bolt.Config{Dir: dataDir + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	assertStoreHoldsEachFactOnce(t, store)
}

// assertStoreHoldsEachFactOnce reads a whole event store: every id once, every observation
// received once and evaluated (diffed, judged) once, and one drift detected per CI and field.
func assertStoreHoldsEachFactOnce(t *testing.T, store eventstore.Store) {
	t.Helper()
	ids, facts := map[string]bool{}, map[string]int{}
	for after := eventstore.Position(0); ; {
		recs, err := store.ReadAll(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if ids[r.ID] {
				t.Errorf("event %s stored twice", r.ID)
			}
			ids[r.ID] = true
			env, err := event.FromStore(r)
			if err != nil {
				t.Fatal(err)
			}
			var key struct {
				ObservationID string `json:"observation_id"`
				Field         string `json:"field"`
				Observation   struct {
					ObservationID string `json:"observation_id"`
					Reevaluation  string `json:"reevaluation"`
				} `json:"observation"`
			}
			_ = json.Unmarshal(env.Data, &key)
			switch env.Type {
			case event.TypeObservationReceivedV2:
				facts[env.Type+" "+key.ObservationID]++
			case event.TypeDiffComputedV2, event.TypePolicyEvaluatedV2:
				facts[env.Type+" "+key.Observation.ObservationID+" "+key.Observation.Reevaluation]++
			case event.TypeDriftDetected:
				facts[env.Type+" "+env.Subject+key.Field]++
			}
		}
		after = recs[len(recs)-1].Position
	}
	kinds := map[string]bool{}
	for k, n := range facts {
		kinds[strings.Fields(k)[0]] = true
		if n != 1 {
			t.Errorf("%s: %d facts, want 1", k, n)
		}
	}
	for _, typ := range []string{event.TypeObservationReceivedV2, event.TypeDiffComputedV2, event.TypePolicyEvaluatedV2, event.TypeDriftDetected} {
		if !kinds[typ] {
			t.Errorf("no %s facts found in the event store", typ)
		}
	}
}
