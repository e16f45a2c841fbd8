package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func readContracts() []contract {
	return []contract{
		{"reads_a_stream_from_a_revision_with_max", readsStreamFromRevisionWithMax},
		{"reads_a_missing_stream_as_empty", readsMissingStreamAsEmpty},
		{"reads_all_after_a_position_in_global_order", readsAllAfterPositionInGlobalOrder},
		{"reads_all_with_max", readsAllWithMax},
		{"assigns_strictly_increasing_positions", assignsIncreasingPositions},
		{"round_trips_data_byte_exact_and_records_the_time", roundTripsDataAndRecordsTime},
	}
}

func readsStreamFromRevisionWithMax(t *testing.T, s eventstore.Store) {
	stream := streamName("range")
	evs := newEvents("range", 6)
	mustAppend(t, s, stream, eventstore.NoStream, evs[:4]...)
	mustAppend(t, s, stream, eventstore.Exact(3), evs[4:]...)
	cases := []struct {
		from uint64
		max  int
		want []eventstore.Event
	}{
		{0, 100, evs},
		{2, 100, evs[2:]},
		{2, 3, evs[2:5]},
		{5, 1, evs[5:]},
		{6, 10, nil},
		{40, 10, nil},
	}
	for _, c := range cases {
		got, err := s.ReadStream(testContext(t), stream, c.from, c.max)
		if err != nil {
			t.Fatalf("read %s from %d max %d: %v", stream, c.from, c.max, err)
		}
		sameIDs(t, "stream read", ids(got), eventIDs(c.want))
		for i, r := range got {
			if r.Revision != c.from+uint64(i) {
				t.Fatalf("read from %d: event %d has revision %d", c.from, i, r.Revision)
			}
		}
	}
}

func readsMissingStreamAsEmpty(t *testing.T, s eventstore.Store) {
	got, err := s.ReadStream(testContext(t), streamName("never"), 0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("read of a missing stream: got %d events and error %v, want none and nil", len(got), err)
	}
}

func readsAllAfterPositionInGlobalOrder(t *testing.T, s eventstore.Store) {
	start := mark(t, s)
	one, two := streamName("global-1"), streamName("global-2")
	a1, b1, a2, b2 := newEvent("a1"), newEvent("b1"), newEvent("a2"), newEvent("b2")
	pa1 := mustAppend(t, s, one, eventstore.NoStream, a1).Position
	mustAppend(t, s, two, eventstore.NoStream, b1)
	mustAppend(t, s, one, eventstore.Exact(0), a2)
	last := mustAppend(t, s, two, eventstore.Exact(0), b2).Position

	all := readAllUntil(t, s, start, last)
	strictlyIncreasing(t, "read all", all)
	if all[0].Position <= start {
		t.Fatalf("read all after %d returned position %d", start, all[0].Position)
	}
	ours := inStreams(all, one, two)
	sameIDs(t, "read all", ids(ours), []string{a1.ID, b1.ID, a2.ID, b2.ID})
	for _, r := range ours {
		want := map[string]string{a1.ID: one, a2.ID: one, b1.ID: two, b2.ID: two}[r.ID]
		if r.Stream != want {
			t.Fatalf("event %s read from stream %s, want %s", r.ID, r.Stream, want)
		}
	}

	after := inStreams(readAllUntil(t, s, pa1, last), one, two)
	sameIDs(t, "read all after the first event", ids(after), []string{b1.ID, a2.ID, b2.ID})
}

func readsAllWithMax(t *testing.T, s eventstore.Store) {
	start := mark(t, s)
	stream := streamName("all-max")
	mustAppend(t, s, stream, eventstore.NoStream, newEvents("all-max", 5)...)
	for _, n := range []int{1, 2, 5} {
		got, err := s.ReadAll(testContext(t), start, n)
		if err != nil {
			t.Fatalf("read all after %d max %d: %v", start, n, err)
		}
		if len(got) != n {
			t.Fatalf("read all after %d max %d: got %d events", start, n, len(got))
		}
		strictlyIncreasing(t, "read all with max", got)
	}
}

func assignsIncreasingPositions(t *testing.T, s eventstore.Store) {
	start := mark(t, s)
	streams := []string{streamName("pos-1"), streamName("pos-2")}
	var prev eventstore.Position = start
	for i := range 6 {
		res := mustAppend(t, s, streams[i%2], eventstore.Any, newEvents("pos", 1+i%3)...)
		if res.Position <= prev {
			t.Fatalf("append %d: position %d does not follow %d", i, res.Position, prev)
		}
		prev = res.Position
	}
	all := readAllUntil(t, s, start, prev)
	strictlyIncreasing(t, "read all", all)
	if n := len(inStreams(all, streams...)); n != 12 {
		t.Fatalf("read all: got %d of our events, want 12", n)
	}
}

func roundTripsDataAndRecordsTime(t *testing.T, s eventstore.Store) {
	before := time.Now()
	start := mark(t, s)
	stream := streamName("exact-bytes")
	e := newEvent("bytes")
	res := mustAppend(t, s, stream, eventstore.NoStream, e)
	fromStream := wantStream(t, s, stream, e)
	fromAll := inStreams(readAllUntil(t, s, start, res.Position), stream)
	for _, r := range []eventstore.Recorded{fromStream[0], fromAll[0]} {
		if !bytes.Equal(r.Data, e.Data) {
			t.Fatalf("data read back differs:\n got %s\nwant %s", r.Data, e.Data)
		}
		if r.Type != e.Type || r.ID != e.ID || r.Position != res.Position {
			t.Fatalf("read back id %s type %s position %d, want %s %s %d", r.ID, r.Type, r.Position, e.ID, e.Type, res.Position)
		}
		// Server clocks may differ from ours: a generous window still catches a zero or
		// garbled time.
		if r.RecordedAt.IsZero() || r.RecordedAt.Before(before.Add(-time.Hour)) || r.RecordedAt.After(time.Now().Add(time.Hour)) {
			t.Fatalf("recorded at %v, want about %v", r.RecordedAt, before)
		}
	}
}
