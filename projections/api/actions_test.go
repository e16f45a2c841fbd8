package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// actionAnswer is the body of POST /drift/events/{id}/quarantine and /release.
type actionAnswer struct {
	ActionID string   `json:"action_id"`
	Kind     string   `json:"kind"`
	CIID     string   `json:"ci_id"`
	Status   string   `json:"status"`
	Changed  bool     `json:"changed"`
	Networks []string `json:"networks"`
	Reason   string   `json:"reason"`
}

// outcome appends an action outcome to the CI's action stream, as the action stage does.
func (f *fixture) outcome(ci string, fact event.Fact) {
	f.t.Helper()
	f.ids++
	rec := event.Record{ID: event.DeriveID("outcome", fmt.Sprint(f.ids)), Subject: ci, Time: now, Fact: fact}
	ev, stream, err := rec.StoreEvent()
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.Append(context.Background(), stream, eventstore.Any, ev); err != nil {
		f.t.Fatal(err)
	}
}

// whenRequested appends fact as the outcome once the n-th action request was published.
func (f *fixture) whenRequested(n int, ci string, fact event.Fact) {
	deadline := time.Now().Add(10 * time.Second)
	go func() {
		for len(f.pub.published(topic.ActionRequested)) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		f.outcome(ci, fact)
	}()
}

func TestActionRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.record(
		detected("d1", "web-1", "/networks", drift.SeverityHigh, drift.CategoryNetwork, 0),
		detected("d2", "web-2", "/power_state", drift.SeverityHigh, drift.CategoryState, 0),
		event.DriftResolved_v1{DriftID: "d2", CIID: "web-2", Reason: "matches", ResolvedAt: now},
	)
	quarantine := event.ActionID("d1", drift.ActionKindQuarantine)

	var a actionAnswer
	f.do(http.MethodPost, "/drift/events/d1/quarantine?wait=0", "application/json", map[string]string{"by": "alice"}).want(t, http.StatusAccepted, &a)
	if a.ActionID != quarantine || a.Status != "requested" || a.CIID != "web-1" {
		t.Fatalf("records_the_request_and_answers_202: %+v", a)
	}
	msgs := f.pub.published(topic.ActionRequested)
	if len(msgs) != 1 {
		t.Fatalf("publishes_the_request: %d messages", len(msgs))
	}
	req, err := event.DecodeMessage[event.ActionRequested_v1](msgs[0])
	if err != nil || req.Fact.Kind != drift.ActionKindQuarantine || req.Fact.RequestedBy != "alice" || req.Subject != "web-1" || req.Fact.DriftID != "d1" {
		t.Fatalf("publishes_the_request: %+v %v", req, err)
	}

	f.whenRequested(2, "web-1", event.ActionSucceeded_v1{ActionID: quarantine, Kind: drift.ActionKindQuarantine, CIID: "web-1", Changed: true, Networks: []string{"bridge", "lan"}})
	f.do(http.MethodPost, "/drift/events/d1/quarantine", "", nil).want(t, http.StatusOK, &a)
	if a.Status != "succeeded" || !a.Changed || !slices.Equal(a.Networks, []string{"bridge", "lan"}) {
		t.Fatalf("waits_for_the_outcome: %+v", a)
	}
	f.do(http.MethodPost, "/drift/events/d1/quarantine", "", nil).want(t, http.StatusOK, &a)
	if a.Status != "succeeded" || len(f.pub.published(topic.ActionRequested)) != 2 {
		t.Fatalf("answers_a_succeeded_action_without_asking_again: %+v", a)
	}

	release := event.ActionID("d2", drift.ActionKindRelease)
	f.outcome("web-2", event.ActionFailed_v1{ActionID: release, Kind: drift.ActionKindRelease, CIID: "web-2", Attempt: 1, Reason: "earlier"})
	f.do(http.MethodPost, "/drift/events/d2/release?wait=50ms", "", nil).want(t, http.StatusAccepted, &a)
	if a.Status != "requested" {
		t.Fatalf("does_not_answer_an_earlier_failure: %+v", a)
	}
	f.whenRequested(4, "web-2", event.ActionFailed_v1{ActionID: release, Kind: drift.ActionKindRelease, CIID: "web-2", Attempt: 2, Reason: "no container"})
	f.do(http.MethodPost, "/drift/events/d2/release", "", nil).want(t, http.StatusOK, &a)
	if a.Status != "failed" || a.Reason != "no container" {
		t.Fatalf("answers_a_failure: %+v", a)
	}

	f.do(http.MethodPost, "/drift/events/nope/release", "", nil).problem(t, http.StatusNotFound)
	f.do(http.MethodPost, "/drift/events/d2/quarantine", "", nil).problem(t, http.StatusConflict)
	f.do(http.MethodPost, "/drift/events/d1/release?wait=soon", "", nil).problem(t, http.StatusBadRequest, "wait")
}
