package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/projections/api"
)

// observed is an observation of ci in a state of its own, minutes after now, with the
// state recorded by hash.
func observed(t *testing.T, ci string, step, minutes int) []event.Fact {
	t.Helper()
	state := json.RawMessage(fmt.Sprintf(`{"step":%d}`, step))
	hash, err := drift.Hash(state)
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Duration(minutes) * time.Minute)
	return []event.Fact{
		event.StateRecorded_v1{Hash: hash, State: state},
		event.ObservationReceived_v2{Observed: event.Observed{ObservationID: fmt.Sprintf("obs-%d", step), CIID: ci, CIType: "vm",
			ObservedAt: at, StateHash: hash}, ReceivedAt: at},
	}
}

// step is one move of the scripted history: an observation of a CI and the next step of
// its drift's lifecycle (opened, its actual value changed, acknowledged, resolved).
func step(t *testing.T, i int) []event.Fact {
	ci := fmt.Sprintf("ci-%02d", i%20)
	round := i / 20
	id := fmt.Sprintf("d-%s-%d", ci, round/4)
	field := fmt.Sprintf("/f%d", i%3)
	at := now.Add(time.Duration(i) * time.Minute)
	facts := observed(t, ci, i, i)
	switch round % 4 {
	case 0:
		d := detected(id, ci, field, []drift.Severity{drift.SeverityLow, drift.SeverityHigh}[i%2], drift.CategoryState, i)
		facts = append(facts, d)
	case 1:
		facts = append(facts, event.DriftUpdated_v1{DriftID: id, CIID: ci, Field: field, ObservationID: fmt.Sprintf("obs-%d", i),
			Actual: json.RawMessage(`"gone"`), Patch: json.RawMessage(`[]`), UpdatedAt: at})
	case 2:
		facts = append(facts, event.DriftAcknowledged_v1{DriftID: id, CIID: ci, By: "alice", Comment: "known", AcknowledgedAt: at})
	case 3:
		facts = append(facts, event.DriftResolved_v1{DriftID: id, CIID: ci, Field: field, ObservationID: fmt.Sprintf("obs-%d", i), Reason: "matches", ResolvedAt: at})
	}
	return facts
}

// comparable decodes an answer and drops what depends on the clock of the read (coverage
// and verification judge staleness at the moment of the read, as_of echoes the parameter).
func comparable(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "coverage")
			delete(x, "verification")
			delete(x, "as_of")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

func TestAsOfAnswersMatchTheLiveAnswersOfThatMoment(t *testing.T) {
	t.Parallel()
	store, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("open bolt store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f := newFixtureOn(t, store, api.Config{ReplayDir: t.TempDir()})
	from, to := now.Format(time.RFC3339), now.Add(8*time.Hour).Format(time.RFC3339)
	reads := []string{
		"/drift/events?limit=500",
		"/drift/events?status=acknowledged&limit=500",
		"/drift/events/d-ci-03-0",
		"/drift/cis",
		"/drift/cis/ci-03",
		"/drift/cis/ci-03/history?limit=1000",
		"/drift/report",
		"/drift/report/causes",
		"/drift/report/timeline?bucket=hour&from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(to),
	}
	type moment struct {
		at   time.Time
		live map[string]response
	}
	var moments []moment
	facts := 0
	for i := range 340 {
		fs := step(t, i)
		f.record(fs...)
		facts += len(fs)
		if i%40 != 39 && i != 339 {
			continue
		}
		m := moment{live: map[string]response{}}
		for _, path := range reads {
			r := f.do("GET", path, "", nil)
			if r.status != http.StatusOK && r.status != http.StatusNotFound {
				t.Fatalf("GET %s at step %d: %d %s", path, i, r.status, r.body)
			}
			m.live[path] = r
		}
		m.at = time.Now().UTC()
		moments = append(moments, m)
		time.Sleep(2 * time.Millisecond) // what comes next is recorded after m.at
	}
	if facts < 1000 {
		t.Fatalf("the script recorded %d facts, want at least 1000", facts)
	}
	for k, m := range moments {
		for _, path := range reads {
			sep := "?"
			if u, _ := url.Parse(path); u.RawQuery != "" {
				sep = "&"
			}
			got := f.do("GET", path+sep+"as_of="+url.QueryEscape(m.at.Format(time.RFC3339Nano)), "", nil)
			live := m.live[path]
			if got.status != live.status {
				t.Fatalf("moment %d, GET %s as of %s: %d, live %d (%s)", k, path, m.at, got.status, live.status, got.body)
			}
			if !reflect.DeepEqual(comparable(t, got.body), comparable(t, live.body)) {
				t.Fatalf("moment %d, GET %s as of %s:\n got  %s\n live %s", k, path, m.at, got.body, live.body)
			}
		}
	}
	// Before anything about the CI was recorded it has no history, and no drift yet.
	early := url.QueryEscape(moments[0].at.Add(-time.Hour).Format(time.RFC3339Nano))
	var h struct {
		Items []any `json:"items"`
	}
	f.do("GET", "/drift/cis/ci-03/history?as_of="+early, "", nil).want(t, http.StatusOK, &h)
	if len(h.Items) != 0 {
		t.Fatalf("history an hour before the first moment: %d items, want none", len(h.Items))
	}
	f.do("GET", "/drift/events/d-ci-03-0?as_of="+early, "", nil).problem(t, http.StatusNotFound)
}

func TestHistoryListsEveryFactOfTheCIInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var facts []event.Fact
	facts = append(facts, observed(t, "vm-1", 1, 0)...)
	facts = append(facts, detected("d1", "vm-1", "/power_state", drift.SeverityHigh, drift.CategoryState, 1),
		event.DriftAcknowledged_v1{DriftID: "d1", CIID: "vm-1", By: "alice", Comment: "on it", AcknowledgedAt: now},
		event.ActionRequested_v1{ActionID: "a1", Kind: drift.ActionKindStart, CIID: "vm-1", DriftID: "d1", RequestedBy: "bob", RequestedAt: now},
		event.DriftResolved_v1{DriftID: "d1", CIID: "vm-1", Field: "/power_state", ObservationID: "obs-2", Reason: "matches", ResolvedAt: now})
	facts = append(facts, observed(t, "vm-2", 3, 0)...) // another CI's facts stay out
	f.record(facts...)

	var page struct {
		CIID  string `json:"ci_id"`
		Items []struct {
			Position uint64          `json:"position"`
			Type     string          `json:"type"`
			Summary  string          `json:"summary"`
			Fact     json.RawMessage `json:"fact"`
		} `json:"items"`
		Next uint64 `json:"next"`
	}
	f.do("GET", "/drift/cis/vm-1/history", "", nil).want(t, http.StatusOK, &page)
	var types []string
	for i, it := range page.Items {
		types = append(types, it.Type)
		if i > 0 && it.Position <= page.Items[i-1].Position {
			t.Fatalf("history out of order: %+v", page.Items)
		}
		if it.Summary == "" || len(it.Fact) == 0 {
			t.Fatalf("entry without summary or fact: %+v", it)
		}
	}
	want := []string{"observation.received", "drift.detected", "drift.acknowledged", "action.requested", "drift.resolved"}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("history types %v, want %v", types, want)
	}
	if s := page.Items[2].Summary; s != "drift d1 acknowledged by alice: on it" {
		t.Fatalf("acknowledgement summary %q", s)
	}

	t.Run("pages_with_after", func(t *testing.T) {
		var first, second struct {
			Items []struct {
				Type string `json:"type"`
			} `json:"items"`
			Next uint64 `json:"next"`
		}
		f.do("GET", "/drift/cis/vm-1/history?limit=3", "", nil).want(t, http.StatusOK, &first)
		if len(first.Items) != 3 || first.Next == 0 {
			t.Fatalf("first page %+v", first)
		}
		f.do("GET", fmt.Sprintf("/drift/cis/vm-1/history?limit=3&after=%d", first.Next), "", nil).want(t, http.StatusOK, &second)
		if len(second.Items) != 2 || second.Next != 0 || second.Items[0].Type != "action.requested" {
			t.Fatalf("second page %+v", second)
		}
	})
	t.Run("refuses_bad_parameters_naming_them", func(t *testing.T) {
		f.do("GET", "/drift/cis/vm-1/history?as_of=yesterday", "", nil).problem(t, http.StatusBadRequest, "as_of")
		f.do("GET", "/drift/cis/vm-1/history?limit=0&after=x", "", nil).problem(t, http.StatusBadRequest, "limit", "after")
		f.do("GET", "/drift/cis/vm-1/history?colour=red", "", nil).problem(t, http.StatusBadRequest, "colour")
	})
	t.Run("answers_404_for_an_unknown_ci", func(t *testing.T) {
		f.do("GET", "/drift/cis/nope/history", "", nil).problem(t, http.StatusNotFound)
	})
}

func TestCoverageTellsStaleAndNeverVerifiedCIsFromVerifiedOnes(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, newFixture(t).store, api.Config{ExpectedInterval: 15 * time.Minute})
	var facts []event.Fact
	facts = append(facts, observed(t, "fresh", 1, -5)...)
	facts = append(facts, observed(t, "fresh-drifted", 2, -1)...)
	facts = append(facts, observed(t, "old", 3, -60)...)
	facts = append(facts, detected("d1", "fresh-drifted", "/a", drift.SeverityLow, drift.CategoryState, -1),
		detected("d2", "ghost", "/a", drift.SeverityLow, drift.CategoryState, -1)) // known from a drift alone
	f.record(facts...)

	var rep struct {
		Coverage struct {
			ExpectedInterval string   `json:"expected_interval"`
			CIs              int      `json:"cis"`
			Verified         int      `json:"verified"`
			Stale            int      `json:"stale"`
			NeverVerified    int      `json:"never_verified"`
			InSync           int      `json:"in_sync"`
			Drifted          int      `json:"drifted"`
			StaleCIs         []string `json:"stale_cis"`
			NeverVerifiedCIs []string `json:"never_verified_cis"`
		} `json:"coverage"`
	}
	f.do("GET", "/drift/report", "", nil).want(t, http.StatusOK, &rep)
	c := rep.Coverage
	if c.CIs != 4 || c.Verified != 2 || c.Stale != 1 || c.NeverVerified != 1 || c.InSync != 1 || c.Drifted != 2 ||
		!reflect.DeepEqual(c.StaleCIs, []string{"old"}) || !reflect.DeepEqual(c.NeverVerifiedCIs, []string{"ghost"}) || c.ExpectedInterval != "15m0s" {
		t.Fatalf("coverage %+v", c)
	}
	for ci, want := range map[string]string{"fresh": "verified", "old": "stale", "ghost": "never_verified"} {
		var got struct {
			Verification string `json:"verification"`
		}
		f.do("GET", "/drift/cis/"+ci, "", nil).want(t, http.StatusOK, &got)
		if got.Verification != want {
			t.Errorf("%s: verification %q, want %q", ci, got.Verification, want)
		}
	}
	var list struct {
		Items []struct {
			CIID         string `json:"ci_id"`
			Verification string `json:"verification"`
		} `json:"items"`
	}
	f.do("GET", "/drift/cis", "", nil).want(t, http.StatusOK, &list)
	if len(list.Items) != 4 || list.Items[0].Verification == "" {
		t.Fatalf("cis %+v", list.Items)
	}
}

func TestTimelineCountsOpenedAndResolvedPerBucket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.record(
		detected("d1", "vm-1", "/a", drift.SeverityLow, drift.CategoryState, 10),      // 12:10
		detected("d2", "vm-2", "/a", drift.SeverityHigh, drift.CategoryNetwork, 70),   // 13:10
		detected("d3", "vm-3", "/b", drift.SeverityHigh, drift.CategoryNetwork, 75),   // 13:15
		detected("d4", "vm-4", "/b", drift.SeverityHigh, drift.CategoryNetwork, -600), // before the range
		event.DriftResolved_v1{DriftID: "d1", CIID: "vm-1", Field: "/a", Reason: "matches", ResolvedAt: now.Add(80 * time.Minute)},
	)
	q := "?bucket=hour&from=" + url.QueryEscape(now.Format(time.RFC3339)) + "&to=" + url.QueryEscape(now.Add(3*time.Hour).Format(time.RFC3339))
	type flow struct{ Opened, Resolved int }
	var tl struct {
		Bucket  string `json:"bucket"`
		Buckets []struct {
			Start      time.Time       `json:"start"`
			Opened     int             `json:"opened"`
			Resolved   int             `json:"resolved"`
			ByCategory map[string]flow `json:"by_category"`
			BySeverity map[string]flow `json:"by_severity"`
		} `json:"buckets"`
	}
	f.do("GET", "/drift/report/timeline"+q, "", nil).want(t, http.StatusOK, &tl)
	if len(tl.Buckets) != 3 || !tl.Buckets[0].Start.Equal(now) || tl.Bucket != "1h0m0s" {
		t.Fatalf("timeline %+v", tl)
	}
	got := [][2]int{}
	for _, b := range tl.Buckets {
		got = append(got, [2]int{b.Opened, b.Resolved})
	}
	if !reflect.DeepEqual(got, [][2]int{{1, 0}, {2, 1}, {0, 0}}) {
		t.Fatalf("opened and resolved per hour %v", got)
	}
	if b := tl.Buckets[1]; b.ByCategory["network"] != (flow{2, 0}) || b.ByCategory["state"] != (flow{0, 1}) || b.BySeverity["high"] != (flow{2, 0}) {
		t.Fatalf("13:00 by category %v, by severity %v", b.ByCategory, b.BySeverity)
	}
	f.do("GET", "/drift/report/timeline"+q+"&category=network", "", nil).want(t, http.StatusOK, &tl)
	if tl.Buckets[0].Opened != 0 || tl.Buckets[1].Opened != 2 || tl.Buckets[1].Resolved != 0 {
		t.Fatalf("network timeline %+v", tl.Buckets)
	}
	f.do("GET", "/drift/report/timeline?bucket=week", "", nil).problem(t, http.StatusBadRequest, "bucket")
	f.do("GET", "/drift/report/timeline?bucket=hour&from=2000-01-01T00:00:00Z", "", nil).problem(t, http.StatusBadRequest, "from")
	f.do("GET", "/drift/report/timeline?to=2000-01-01T00:00:00Z&from=2001-01-01T00:00:00Z", "", nil).problem(t, http.StatusBadRequest, "to")
}

func TestCausesGroupOneChangeAcrossCIsIntoOneRow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var facts []event.Fact
	for i := range 40 {
		facts = append(facts, detected(fmt.Sprintf("d%02d", i), fmt.Sprintf("vm-%02d", i), "/power_state", drift.SeverityHigh, drift.CategoryState, i))
	}
	other := detected("x1", "vm-00", "/cpu", drift.SeverityLow, drift.CategoryConfiguration, 0)
	facts = append(facts, other,
		event.DriftResolved_v1{DriftID: "d39", CIID: "vm-39", Field: "/power_state", Reason: "matches", ResolvedAt: now})
	f.record(facts...)
	var got struct {
		Items []struct {
			Field    string          `json:"field"`
			Desired  json.RawMessage `json:"desired"`
			Actual   json.RawMessage `json:"actual"`
			Count    int             `json:"count"`
			CIs      []string        `json:"cis"`
			DriftIDs []string        `json:"drift_ids"`
			Severity string          `json:"severity"`
		} `json:"items"`
		Total int `json:"total"`
	}
	f.do("GET", "/drift/report/causes", "", nil).want(t, http.StatusOK, &got)
	if got.Total != 2 || len(got.Items) != 2 {
		t.Fatalf("causes %+v", got)
	}
	top := got.Items[0]
	if top.Field != "/power_state" || string(top.Desired) != `"on"` || string(top.Actual) != `"off"` || top.Count != 39 ||
		len(top.CIs) != 39 || top.CIs[0] != "vm-00" || top.CIs[38] != "vm-38" || top.DriftIDs[5] != "d05" || top.Severity != "high" {
		t.Fatalf("top cause %+v", top)
	}
	if got.Items[1].Field != "/cpu" || got.Items[1].Count != 1 {
		t.Fatalf("second cause %+v", got.Items[1])
	}
	f.do("GET", "/drift/report/causes?category=configuration", "", nil).want(t, http.StatusOK, &got)
	if got.Total != 1 || got.Items[0].Field != "/cpu" {
		t.Fatalf("configuration causes %+v", got)
	}
	f.do("GET", "/drift/report/causes?severity=bad", "", nil).problem(t, http.StatusBadRequest, "severity")
}
