package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/ingest"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/states"
)

func TestSubmitRecordsAChangedStateOnceByHash(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{})
	out := r.submit(drift.Observation{ID: "obs-1", CIID: "  vm-1 ", CIType: "VM", State: json.RawMessage(`{ "b": 1, "a": [true] }`)})
	if out.Status != ingest.StatusChanged || len(out.Records) != 1 || out.Records[0].Position == 0 {
		t.Fatalf("outcome %+v", out)
	}
	f := out.Records[0].Fact.(event.ObservationReceived_v2)
	want, _ := drift.Hash(json.RawMessage(`{"a":[true],"b":1}`))
	if f.CIID != "vm-1" || f.CIType != "vm" || f.StateHash != want || f.Source != "api" || !f.ObservedAt.Equal(r.clock.Now()) {
		t.Fatalf("received %+v", f)
	}
	// Another CI in the same state refers to the stored state; it is not stored again.
	r.submit(obs("vm-2", `{"a":[true],"b":1}`))
	states := 0
	for _, rec := range r.all() {
		if rec.Type == event.TypeStateRecorded {
			states++
			if !strings.Contains(string(rec.Data), `"state":{"a":[true],"b":1}`) || rec.Stream != event.StateStream(want) {
				t.Fatalf("state stored as %s in %s", rec.Data, rec.Stream)
			}
		}
	}
	if states != 1 {
		t.Fatalf("%d state records, want 1", states)
	}
}

func TestAnUnchangedStateIsCountedAndRecordedAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{UnchangedEvery: time.Minute})
	r.submit(obs("vm-1", `{"power":"on"}`))
	for range 1000 {
		r.clock.advance(time.Millisecond)
		if out := r.submit(obs("vm-1", `{ "power" : "on" }`)); out.Status != ingest.StatusUnchanged || len(out.Records) != 0 {
			t.Fatalf("outcome %+v, want unchanged with nothing to publish", out)
		}
	}
	if n := len(r.stream("vm-1")); n != 1 {
		t.Fatalf("1000 identical observations within a minute added %d events, want none", n-1)
	}
	r.clock.advance(time.Minute)
	out := r.submit(obs("vm-1", `{"power":"on"}`))
	recs := r.stream("vm-1")
	if out.Status != ingest.StatusUnchanged || len(recs) != 2 || recs[1].Type != event.TypeObservationUnchanged {
		t.Fatalf("after the interval: %+v, stream %d", out, len(recs))
	}
	env, _ := event.FromStore(recs[1])
	m, _ := event.Decode[event.ObservationUnchanged_v1](env)
	if m.Fact.Repeats != 1001 || !m.Fact.ObservedAt.Equal(r.clock.Now()) {
		t.Fatalf("unchanged %+v, want 1001 repeats at the latest observation", m.Fact)
	}
	if len(recs[1].Data) > 700 {
		t.Fatalf("an unchanged observation costs %d bytes of fact", len(recs[1].Data))
	}
}

func TestTheSameObservationTwiceIsADuplicateToPublishAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{})
	o := obs("vm-1", `{"power":"on"}`)
	o.ID = "obs-1"
	first := r.submit(o)
	again := r.submit(o)
	if again.Status != ingest.StatusDuplicate || len(again.Records) != 1 || again.Records[0].ID != first.Records[0].ID || again.Records[0].Position != first.Records[0].Position {
		t.Fatalf("again %+v, first %+v", again, first)
	}
	if n := len(r.stream("vm-1")); n != 1 {
		t.Fatalf("stream has %d events", n)
	}
}

func TestAnOlderObservationIsSuperseded(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{})
	now := r.clock.Now()
	newer := obs("vm-1", `{"power":"on"}`)
	newer.ObservedAt = now
	r.submit(newer)
	older := obs("vm-1", `{"power":"off"}`)
	older.ObservedAt = now.Add(-time.Minute)
	if out := r.submit(older); out.Status != ingest.StatusSuperseded {
		t.Fatalf("outcome %+v", out)
	}
	if n := len(r.stream("vm-1")); n != 1 {
		t.Fatalf("stream has %d events", n)
	}
}

func TestAScopedObservationReplacesOnlyItsMembers(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{})
	r.submit(obs("web-1", `{"power_state":"running","networks":["a"],"files":{"x":1}}`))
	out := r.submit(obs("web-1", `{"power_state":"stopped","networks":["a"]}`), "power_state", "networks")
	want, _ := drift.Hash(json.RawMessage(`{"files":{"x":1},"networks":["a"],"power_state":"stopped"}`))
	if out.Status != ingest.StatusChanged || out.StateHash != want {
		t.Fatalf("outcome %+v, want the merged state %s", out, want)
	}
	f := out.Records[0].Fact.(event.ObservationReceived_v2)
	if strings.Join(f.Scope, ",") != "/power_state,/networks" {
		t.Fatalf("scope %v", f.Scope)
	}
}

func TestAnotherWriterOfTheStreamIsNoticed(t *testing.T) {
	t.Parallel()
	a := newRig(t, ingest.Config{})
	b := rigOn(t, a.store, a.clock, ingest.Config{})
	a.submit(obs("vm-1", `{"power":"on"}`))
	a.clock.advance(time.Second)
	b.submit(obs("vm-1", `{"power":"off"}`))
	a.clock.advance(time.Second)
	// a still remembers "on"; the stream says "off": back to "on" is a change.
	if out := a.submit(obs("vm-1", `{"power":"on"}`)); out.Status != ingest.StatusChanged {
		t.Fatalf("outcome %+v, want changed", out)
	}
	if n := len(a.stream("vm-1")); n != 3 {
		t.Fatalf("stream has %d events, want 3", n)
	}
}

// countingStore counts the heads of observation streams read from the store.
type countingStore struct {
	eventstore.Store
	lastReads atomic.Int64
}

func (c *countingStore) ReadLast(ctx context.Context, stream string) (eventstore.Recorded, bool, error) {
	if strings.HasPrefix(stream, event.ObservationStreamPrefix) {
		c.lastReads.Add(1)
	}
	return c.Store.ReadLast(ctx, stream)
}

func TestASoleWriterDecidesACachedCIWithoutReadingItsStream(t *testing.T) {
	t.Parallel()
	for _, sole := range []bool{false, true} {
		r := newRig(t, ingest.Config{})
		store := &countingStore{Store: r.store}
		st, err := states.New(states.Config{}, store)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ingest.New(ingest.Config{SoleWriter: sole}, ingest.Deps{Store: store, States: st, Logger: zap.NewNop(), Now: r.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		r.s = s
		r.submit(obs("vm-1", `{"power":"on"}`))
		before := store.lastReads.Load()
		for i := range 10 {
			r.clock.advance(time.Second)
			r.submit(obs("vm-1", fmt.Sprintf(`{"power":"on","n":%d}`, i%2)))
		}
		reads := store.lastReads.Load() - before
		if sole && reads != 0 || !sole && reads < 10 {
			t.Fatalf("sole writer %v: %d heads read for 10 observations of a cached CI", sole, reads)
		}
		if n := len(r.stream("vm-1")); n != 11 {
			t.Fatalf("sole writer %v: stream has %d events, want 11", sole, n)
		}
	}
}

func TestASoleWriterWithAStaleCacheStillRecordsAChange(t *testing.T) {
	t.Parallel()
	a := newRig(t, ingest.Config{SoleWriter: true})
	b := rigOn(t, a.store, a.clock, ingest.Config{})
	a.submit(obs("vm-1", `{"power":"on"}`))
	a.clock.advance(time.Second)
	b.submit(obs("vm-1", `{"power":"off"}`)) // breaks the promise: the revision catches it
	a.clock.advance(time.Second)
	if out := a.submit(obs("vm-1", `{"power":"standby"}`)); out.Status != ingest.StatusChanged {
		t.Fatalf("outcome %+v, want changed", out)
	}
	if n := len(a.stream("vm-1")); n != 3 {
		t.Fatalf("stream has %d events, want 3", n)
	}
}

func TestConcurrentObservationsOfOneCIAreDecidedOneAtATime(t *testing.T) {
	t.Parallel()
	a := newRig(t, ingest.Config{UnchangedEvery: -1})
	b := rigOn(t, a.store, a.clock, ingest.Config{UnchangedEvery: -1})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a
			if i%2 == 1 {
				r = b
			}
			o := obs("vm-1", `{"power":"on"}`)
			o.ID = fmt.Sprint("obs-", i)
			// As the router does: a conflict that outlasts ingest's own attempts is retried.
			for attempt := 0; ; attempt++ {
				_, err := r.try(o)
				if err == nil {
					break
				}
				if fault.IsPermanent(err) || attempt == 20 {
					t.Error(err)
					break
				}
			}
		}()
	}
	wg.Wait()
	recs := a.stream("vm-1")
	received := 0
	for i, rec := range recs {
		if rec.Revision != uint64(i) {
			t.Fatalf("revision %d at %d", rec.Revision, i)
		}
		if rec.Type == event.TypeObservationReceivedV2 {
			received++
		}
	}
	if received != 1 || len(recs) != 40 {
		t.Fatalf("%d received of %d events, want the state received once and 39 repeats", received, len(recs))
	}
}

func TestBadInputIsRefusedPermanentlyNamingEachField(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{})
	long := strings.Repeat("x", 300)
	cases := []struct {
		name string
		o    drift.Observation
		want []string
	}{
		{"names_every_missing_field", drift.Observation{}, []string{"ci_id: required", "ci_type: required", "state: required"}},
		{"refuses_control_characters_in_ids", drift.Observation{CIID: "web\n01", CIType: "vm", Source: "a\x00", State: json.RawMessage(`{}`)}, []string{"ci_id: contains a control character", "source: contains a control character"}},
		{"refuses_ids_over_the_limit", drift.Observation{CIID: long, CIType: "vm", State: json.RawMessage(`{}`)}, []string{"ci_id: 300 bytes, at most 256"}},
		{"refuses_invalid_utf8_in_an_id", drift.Observation{CIID: "web\xff", CIType: "vm", State: json.RawMessage(`{}`)}, []string{"ci_id: not valid UTF-8"}},
		{"refuses_a_state_that_is_not_an_object", obs("vm-1", `[1]`), []string{"state: must be a JSON object"}},
		{"refuses_a_duplicate_key", obs("vm-1", `{"a":1,"a":2}`), []string{`state: duplicate key "a"`}},
		{"refuses_a_number_outside_float64", obs("vm-1", `{"a":1e999}`), []string{"state: number 1e999 is outside the range of a 64-bit float at /a"}},
		{"refuses_an_observation_from_the_future", drift.Observation{CIID: "vm-1", CIType: "vm", State: json.RawMessage(`{}`), ObservedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"observed_at: 9999-01-01T00:00:00Z is more than 5m0s in the future"}},
		{"refuses_a_state_over_the_limit", obs("vm-1", `{"pad":"`+strings.Repeat("x", drift.MaxStateBytes)+`"}`), []string{fmt.Sprintf("state: %d bytes, at most %d", drift.MaxStateBytes+10, drift.MaxStateBytes)}},
		{"refuses_a_wrong_state_hash", drift.Observation{CIID: "vm-1", CIType: "vm", State: json.RawMessage(`{}`), StateHash: "sha256:00"}, []string{"state_hash:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.try(c.o)
			if !fault.IsPermanent(err) {
				t.Fatalf("err %v is not permanent", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not say %q", err, w)
				}
			}
		})
	}
	if n := len(r.all()); n != 0 {
		t.Fatalf("bad input recorded %d events", n)
	}
}

func TestSignedObservationsAreCheckedAgainstEnrolledCredentials(t *testing.T) {
	t.Parallel()
	web1, web2 := newAgent(t, "web-01", "web-01"), newAgent(t, "web-02", "web-02")
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
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, ingest.Config{RequireSigned: c.require})
			r.enrol(web1)
			r.enrol(web2)
			in := event.Message[event.ObservationSubmitted_v1]{ID: event.DeriveID("m", name), Time: r.clock.Now(), Fact: c.sub}
			out, err := r.s.Submit(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if out.Status != ingest.StatusChanged {
					t.Fatalf("outcome %+v, want accepted", out)
				}
				return
			}
			if out.Status != ingest.StatusRejected || out.Rejection.Reason != c.want || len(out.Records) != 1 || out.Records[0].Position != 0 {
				t.Fatalf("outcome %+v, want a rejection for %s to record", out, c.want)
			}
			rej := out.Records[0].Fact.(event.ObservationRejected_v1)
			if rej.CIID != c.sub.CIID || rej.MessageID != in.ID || rej.Detail == "" || out.Records[0].Subject != c.sub.CIID {
				t.Fatalf("rejection %+v", rej)
			}
			if again, _ := r.s.Submit(context.Background(), in); again.Records[0].ID != out.Records[0].ID {
				t.Fatal("a redelivered rejection got another id")
			}
			if n := len(r.stream(c.sub.CIID)); n != 0 {
				t.Fatalf("a rejected observation added %d events to its CI's stream", n)
			}
		})
	}
}

func TestCredentialLookupFailuresAreRetried(t *testing.T) {
	t.Parallel()
	r := newRig(t, ingest.Config{})
	a := newAgent(t, "web-01", "web-01")
	_ = r.store.Close()
	_, err := r.s.Submit(context.Background(), event.Message[event.ObservationSubmitted_v1]{ID: "m", Fact: signed(t, a, "web-01")})
	if err == nil || fault.IsPermanent(err) || !errors.Is(err, errClosed(r)) {
		t.Fatalf("err %v, want a retryable failure", err)
	}
}
