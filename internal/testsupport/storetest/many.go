package storetest

import (
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func manyContracts() []contract {
	return []contract{
		{"appends_many_in_order_and_answers_each", appendsManyInOrder},
		{"lets_later_appends_of_one_call_see_earlier_ones", appendManySeesItself},
		{"names_the_conflicting_stream_and_is_safe_to_call_again", appendManyConflict},
		{"appends_many_once_when_called_twice", appendManyIdempotent},
		{"refuses_append_many_without_appends", appendManyEmpty},
		{"reads_the_last_event_of_a_stream", readsLast},
	}
}

func appendsManyInOrder(t *testing.T, s eventstore.Store) {
	a, b := streamName("many-a"), streamName("many-b")
	ea, eb := newEvents("a", 2), newEvents("b", 1)
	res, err := s.AppendMany(testContext(t), []eventstore.Append{
		{Stream: a, Expected: eventstore.NoStream, Events: ea},
		{Stream: b, Expected: eventstore.Any, Events: eb},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].NextRevision != 1 || res[1].NextRevision != 0 {
		t.Fatalf("results %+v, want next revisions 1 and 0", res)
	}
	ga, gb := wantStream(t, s, a, ea...), wantStream(t, s, b, eb...)
	if res[0].Position != ga[1].Position || res[1].Position != gb[0].Position || !(ga[1].Position < gb[0].Position) {
		t.Fatalf("positions %+v for events at %d and %d: results must name each append's last event, in call order", res, ga[1].Position, gb[0].Position)
	}
}

func appendManySeesItself(t *testing.T, s eventstore.Store) {
	a := streamName("many-self")
	e1, e2 := newEvent("1"), newEvent("2")
	res, err := s.AppendMany(testContext(t), []eventstore.Append{
		{Stream: a, Expected: eventstore.NoStream, Events: []eventstore.Event{e1}},
		{Stream: a, Expected: eventstore.Exact(0), Events: []eventstore.Event{e2}},
		{Stream: a, Expected: eventstore.Exact(1), Events: []eventstore.Event{e1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := wantStream(t, s, a, e1, e2)
	if res[1].NextRevision != 1 || res[2] != res[0] {
		t.Fatalf("results %+v: the second append follows the first; an event appended earlier in the call answers with its stored copy (%d)", res, got[0].Position)
	}
}

func appendManyConflict(t *testing.T, s eventstore.Store) {
	a, b := streamName("many-ok"), streamName("many-conflict")
	mustAppend(t, s, b, eventstore.NoStream, newEvent("b0"))
	ea, eb := newEvent("a"), newEvent("b1")
	_, err := s.AppendMany(testContext(t), []eventstore.Append{
		{Stream: a, Expected: eventstore.NoStream, Events: []eventstore.Event{ea}},
		{Stream: b, Expected: eventstore.Exact(5), Events: []eventstore.Event{eb}},
	})
	wantWrongRevision(t, err, b, eventstore.Exact(5), 0)
	if s, ok := s.(interface{ AtomicAppendMany() bool }); ok && s.AtomicAppendMany() {
		got, err := s.(eventstore.Store).ReadStream(testContext(t), a, 0, 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("an atomic AppendMany that failed wrote %d events to %s (%v)", len(got), a, err)
		}
	}
	if _, err := s.AppendMany(testContext(t), []eventstore.Append{
		{Stream: a, Expected: eventstore.Any, Events: []eventstore.Event{ea}},
		{Stream: b, Expected: eventstore.Exact(0), Events: []eventstore.Event{eb}},
	}); err != nil {
		t.Fatalf("calling again after the conflict: %v", err)
	}
	wantStream(t, s, a, ea)
	got, _ := s.ReadStream(testContext(t), b, 0, 10)
	if len(got) != 2 || got[1].ID != eb.ID {
		t.Fatalf("stream %s holds %v", b, ids(got))
	}
}

func appendManyIdempotent(t *testing.T, s eventstore.Store) {
	a, b := streamName("many-twice-a"), streamName("many-twice-b")
	appends := []eventstore.Append{
		{Stream: a, Expected: eventstore.NoStream, Events: newEvents("a", 2)},
		{Stream: b, Expected: eventstore.NoStream, Events: newEvents("b", 1)},
	}
	first, err := s.AppendMany(testContext(t), appends)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AppendMany(testContext(t), appends)
	if err != nil {
		t.Fatalf("the same AppendMany again: %v", err)
	}
	if len(again) != 2 || again[0] != first[0] || again[1] != first[1] {
		t.Fatalf("again %+v, first %+v: a repeated call answers with the stored copies", again, first)
	}
	wantStream(t, s, a, appends[0].Events...)
	wantStream(t, s, b, appends[1].Events...)
}

func appendManyEmpty(t *testing.T, s eventstore.Store) {
	if _, err := s.AppendMany(testContext(t), nil); err == nil {
		t.Fatal("AppendMany without appends succeeded")
	}
}

func readsLast(t *testing.T, s eventstore.Store) {
	a := streamName("last")
	if _, found, err := s.ReadLast(testContext(t), a); err != nil || found {
		t.Fatalf("last of a missing stream: found %v, err %v", found, err)
	}
	evs := newEvents("last", 3)
	mustAppend(t, s, a, eventstore.NoStream, evs...)
	got := wantStream(t, s, a, evs...)
	last, found, err := s.ReadLast(testContext(t), a)
	if err != nil || !found {
		t.Fatalf("last of %s: found %v, err %v", a, found, err)
	}
	if last.ID != evs[2].ID || last.Revision != 2 || last.Position != got[2].Position || last.Stream != a || string(last.Data) != string(evs[2].Data) {
		t.Fatalf("last %+v, want the event at revision 2 %+v", last, got[2])
	}
}
