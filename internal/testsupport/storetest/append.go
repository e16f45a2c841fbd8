package storetest

import (
	"errors"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func appendContracts() []contract {
	return []contract{
		{"appends_to_a_new_stream_with_no_stream", appendsToNewStreamWithNoStream},
		{"refuses_no_stream_when_the_stream_exists", refusesNoStreamOnExistingStream},
		{"appends_when_the_exact_revision_matches", appendsOnMatchingExactRevision},
		{"refuses_a_mismatched_exact_revision", refusesMismatchedExactRevision},
		{"refuses_an_exact_revision_on_a_missing_stream", refusesExactRevisionOnMissingStream},
		{"refuses_stream_exists_on_a_missing_stream", refusesStreamExistsOnMissingStream},
		{"appends_with_stream_exists_when_the_stream_has_events", appendsWithStreamExists},
		{"appends_with_any_whatever_the_revision", appendsWithAny},
		{"refuses_an_append_without_events", refusesEmptyAppend},
		{"refuses_an_event_id_that_is_not_a_uuid", refusesNonUUIDEventID},
	}
}

// wantWrongRevision fails the test unless err is a WrongRevisionError with these details.
func wantWrongRevision(t *testing.T, err error, stream string, expected eventstore.Revision, actual int64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("append to %s expecting %d: got error %v, want one matching ErrWrongRevision", stream, expected, err)
	}
	var wrong *eventstore.WrongRevisionError
	if !errors.As(err, &wrong) {
		t.Fatalf("append to %s: error %v is not a *WrongRevisionError", stream, err)
	}
	if wrong.Stream != stream || wrong.Expected != expected || wrong.Actual != actual {
		t.Fatalf("wrong revision error: got stream %s expected %d actual %d, want %s %d %d",
			wrong.Stream, wrong.Expected, wrong.Actual, stream, expected, actual)
	}
}

// wantStream fails the test unless stream holds exactly the events want, at revisions 0...
func wantStream(t *testing.T, s eventstore.Store, stream string, want ...eventstore.Event) []eventstore.Recorded {
	t.Helper()
	got, err := s.ReadStream(testContext(t), stream, 0, len(want)+10)
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	sameIDs(t, "stream "+stream, ids(got), eventIDs(want))
	for i, r := range got {
		if r.Stream != stream || r.Revision != uint64(i) {
			t.Fatalf("event %d of %s reads as stream %s revision %d", i, stream, r.Stream, r.Revision)
		}
	}
	return got
}

func appendsToNewStreamWithNoStream(t *testing.T, s eventstore.Store) {
	stream := streamName("new")
	evs := newEvents("new", 3)
	res := mustAppend(t, s, stream, eventstore.NoStream, evs...)
	if res.NextRevision != 2 {
		t.Fatalf("next revision after 3 events: got %d, want 2", res.NextRevision)
	}
	got := wantStream(t, s, stream, evs...)
	if res.Position != got[2].Position {
		t.Fatalf("append result position %d, want the last event's position %d", res.Position, got[2].Position)
	}
}

func refusesNoStreamOnExistingStream(t *testing.T, s eventstore.Store) {
	stream := streamName("exists")
	first := newEvent("first")
	mustAppend(t, s, stream, eventstore.NoStream, first)
	_, err := s.Append(testContext(t), stream, eventstore.NoStream, newEvent("second"))
	wantWrongRevision(t, err, stream, eventstore.NoStream, 0)
	wantStream(t, s, stream, first)
}

func appendsOnMatchingExactRevision(t *testing.T, s eventstore.Store) {
	stream := streamName("exact")
	a, b, c := newEvent("a"), newEvent("b"), newEvent("c")
	mustAppend(t, s, stream, eventstore.NoStream, a)
	if res := mustAppend(t, s, stream, eventstore.Exact(0), b); res.NextRevision != 1 {
		t.Fatalf("next revision: got %d, want 1", res.NextRevision)
	}
	if res := mustAppend(t, s, stream, eventstore.Exact(1), c); res.NextRevision != 2 {
		t.Fatalf("next revision: got %d, want 2", res.NextRevision)
	}
	wantStream(t, s, stream, a, b, c)
}

func refusesMismatchedExactRevision(t *testing.T, s eventstore.Store) {
	stream := streamName("mismatch")
	evs := newEvents("mismatch", 2)
	mustAppend(t, s, stream, eventstore.NoStream, evs...)
	for _, expected := range []eventstore.Revision{eventstore.Exact(0), eventstore.Exact(2), eventstore.Exact(7)} {
		_, err := s.Append(testContext(t), stream, expected, newEvent("late"))
		wantWrongRevision(t, err, stream, expected, 1)
	}
	wantStream(t, s, stream, evs...)
}

func refusesExactRevisionOnMissingStream(t *testing.T, s eventstore.Store) {
	stream := streamName("missing-exact")
	_, err := s.Append(testContext(t), stream, eventstore.Exact(0), newEvent("x"))
	wantWrongRevision(t, err, stream, eventstore.Exact(0), -1)
	wantStream(t, s, stream)
}

func refusesStreamExistsOnMissingStream(t *testing.T, s eventstore.Store) {
	stream := streamName("missing-exists")
	_, err := s.Append(testContext(t), stream, eventstore.StreamExists, newEvent("x"))
	wantWrongRevision(t, err, stream, eventstore.StreamExists, -1)
	wantStream(t, s, stream)
}

func appendsWithStreamExists(t *testing.T, s eventstore.Store) {
	stream := streamName("exists-ok")
	a, b := newEvent("a"), newEvent("b")
	mustAppend(t, s, stream, eventstore.NoStream, a)
	if res := mustAppend(t, s, stream, eventstore.StreamExists, b); res.NextRevision != 1 {
		t.Fatalf("next revision: got %d, want 1", res.NextRevision)
	}
	wantStream(t, s, stream, a, b)
}

func appendsWithAny(t *testing.T, s eventstore.Store) {
	stream := streamName("any")
	evs := newEvents("any", 4)
	for i, e := range evs {
		if res := mustAppend(t, s, stream, eventstore.Any, e); res.NextRevision != uint64(i) {
			t.Fatalf("append %d with Any: next revision %d, want %d", i, res.NextRevision, i)
		}
	}
	wantStream(t, s, stream, evs...)
}

func refusesEmptyAppend(t *testing.T, s eventstore.Store) {
	stream := streamName("empty")
	if _, err := s.Append(testContext(t), stream, eventstore.Any); err == nil {
		t.Fatal("append without events: got no error")
	}
	wantStream(t, s, stream)
}

func refusesNonUUIDEventID(t *testing.T, s eventstore.Store) {
	stream := streamName("bad-id")
	good, bad := newEvent("good"), newEvent("bad")
	bad.ID = "not-a-uuid"
	if _, err := s.Append(testContext(t), stream, eventstore.Any, good, bad); err == nil {
		t.Fatal("append of an event with id not-a-uuid: got no error")
	}
	wantStream(t, s, stream)
}
