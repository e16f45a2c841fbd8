package storetest

import (
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func idempotencyContracts() []contract {
	return []contract{
		{"skips_an_event_whose_id_is_already_stored", skipsStoredEvent},
		{"skips_a_stored_event_even_with_a_stale_expected_revision", skipsStoredEventWithStaleRevision},
		{"appends_only_the_new_events_of_a_partly_stored_batch", appendsOnlyNewEventsOfPartlyStoredBatch},
		{"checks_the_revision_of_a_partly_stored_batch", checksRevisionOfPartlyStoredBatch},
		{"stores_an_id_repeated_within_one_append_once", storesRepeatedIDOnce},
	}
}

// wantOnceInAll fails the test unless every one of ids occurs exactly once in the global
// order after after.
func wantOnceInAll(t *testing.T, s eventstore.Store, after, until eventstore.Position, ids ...string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range readAllUntil(t, s, after, until) {
		count[r.ID]++
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Fatalf("event %s occurs %d times in ReadAll, want once", id, count[id])
		}
	}
}

func skipsStoredEvent(t *testing.T, s eventstore.Store) {
	start := mark(t, s)
	stream := streamName("dup")
	evs := newEvents("dup", 2)
	first := mustAppend(t, s, stream, eventstore.NoStream, evs...)
	again := mustAppend(t, s, stream, eventstore.Any, evs...)
	if again != first {
		t.Fatalf("re-append of stored events: got %+v, want the first result %+v", again, first)
	}
	last := mustAppend(t, s, stream, eventstore.Any, evs[1])
	if last != first {
		t.Fatalf("re-append of the last stored event: got %+v, want %+v", last, first)
	}
	wantStream(t, s, stream, evs...)
	wantOnceInAll(t, s, start, first.Position, eventIDs(evs)...)
}

func skipsStoredEventWithStaleRevision(t *testing.T, s eventstore.Store) {
	start := mark(t, s)
	stream := streamName("dup-stale")
	a, b := newEvent("a"), newEvent("b")
	first := mustAppend(t, s, stream, eventstore.NoStream, a)
	second := mustAppend(t, s, stream, eventstore.Exact(0), b)
	for _, stale := range []eventstore.Revision{eventstore.NoStream, eventstore.Exact(5)} {
		again, err := s.Append(testContext(t), stream, stale, a)
		if err != nil {
			t.Fatalf("re-append of a stored event expecting %d: %v", stale, err)
		}
		if again.Position != first.Position || again.NextRevision != first.NextRevision {
			t.Fatalf("re-append of a stored event expecting %d: got %+v, want its first result %+v", stale, again, first)
		}
	}
	wantStream(t, s, stream, a, b)
	wantOnceInAll(t, s, start, second.Position, a.ID, b.ID)
}

func appendsOnlyNewEventsOfPartlyStoredBatch(t *testing.T, s eventstore.Store) {
	start := mark(t, s)
	stream := streamName("partly")
	a, b, c := newEvent("a"), newEvent("b"), newEvent("c")
	mustAppend(t, s, stream, eventstore.NoStream, a)
	res := mustAppend(t, s, stream, eventstore.Exact(0), a, b, c)
	if res.NextRevision != 2 {
		t.Fatalf("next revision after appending 2 new of 3 events: got %d, want 2", res.NextRevision)
	}
	got := wantStream(t, s, stream, a, b, c)
	if res.Position != got[2].Position {
		t.Fatalf("append result position %d, want the last new event's position %d", res.Position, got[2].Position)
	}
	wantOnceInAll(t, s, start, res.Position, a.ID, b.ID, c.ID)
}

func checksRevisionOfPartlyStoredBatch(t *testing.T, s eventstore.Store) {
	stream := streamName("partly-stale")
	a, b := newEvent("a"), newEvent("b")
	mustAppend(t, s, stream, eventstore.NoStream, a)
	_, err := s.Append(testContext(t), stream, eventstore.NoStream, a, b)
	wantWrongRevision(t, err, stream, eventstore.NoStream, 0)
	wantStream(t, s, stream, a)
}

func storesRepeatedIDOnce(t *testing.T, s eventstore.Store) {
	stream := streamName("repeat")
	a, b := newEvent("a"), newEvent("b")
	res := mustAppend(t, s, stream, eventstore.NoStream, a, b, a)
	if res.NextRevision != 1 {
		t.Fatalf("next revision after a, b, a: got %d, want 1", res.NextRevision)
	}
	wantStream(t, s, stream, a, b)
}
