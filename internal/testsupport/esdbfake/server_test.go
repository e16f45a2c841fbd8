package esdbfake_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/internal/testsupport/esdbfake"
)

// connect starts a fake and returns a client of it, closed when t ends.
func connect(t *testing.T) *esdb.Client {
	t.Helper()
	conf, err := esdb.ParseConnectionString(esdbfake.Start(t).URL())
	if err != nil {
		t.Fatalf("parse url: %v", err)
	}
	c, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// appendTypes appends one JSON event per type to stream.
func appendTypes(t *testing.T, c *esdb.Client, stream string, expected esdb.ExpectedRevision, types ...string) *esdb.WriteResult {
	t.Helper()
	evs := make([]esdb.EventData, len(types))
	for i, typ := range types {
		evs[i] = esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	}
	res, err := c.AppendToStream(t.Context(), stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, evs...)
	if err != nil {
		t.Fatalf("append %v to %s: %v", types, stream, err)
	}
	return res
}

// readStream reads up to count events of stream.
func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadStream(t.Context(), stream, opts, count)
	return drain(t, rs, err)
}

// readAll reads up to count events of $all.
func readAll(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadAll(t.Context(), opts, count)
	return drain(t, rs, err)
}

// drain reads every event of rs, the result of a read that returned err.
func drain(t *testing.T, rs *esdb.ReadStream, err error) []*esdb.RecordedEvent {
	t.Helper()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, ev.Event)
	}
}

func TestServer(t *testing.T) {
	t.Parallel()

	t.Run("reports_its_version_on_connect", func(t *testing.T) {
		t.Parallel()
		v, err := connect(t).GetServerVersion()
		if err != nil || *v != (esdb.ServerVersion{Major: 24, Minor: 10}) {
			t.Fatalf("server version: got %+v, %v; want 24.10.0", v, err)
		}
	})

	t.Run("round_trips_an_event_with_its_metadata", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		in := esdb.EventData{EventID: uuid.New(), EventType: "thing.v1", ContentType: esdb.ContentTypeBinary, Data: []byte{0, 1, 2}, Metadata: []byte("meta")}
		before := time.Now()
		res, err := c.AppendToStream(t.Context(), "round-trip", esdb.AppendToStreamOptions{}, in)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		got := readStream(t, c, "round-trip", esdb.ReadStreamOptions{}, 10)
		if len(got) != 1 {
			t.Fatalf("read back %d events, want 1", len(got))
		}
		e := got[0]
		if e.EventID != in.EventID || e.EventType != in.EventType || e.ContentType != "application/octet-stream" ||
			!bytes.Equal(e.Data, in.Data) || !bytes.Equal(e.UserMetadata, in.Metadata) || e.StreamID != "round-trip" || e.EventNumber != 0 {
			t.Fatalf("read back %+v, want %+v", e, in)
		}
		if e.Position.Commit == 0 || e.Position.Commit != e.Position.Prepare || e.Position.Commit != res.CommitPosition || res.PreparePosition != res.CommitPosition {
			t.Fatalf("positions: event %+v, append result %+v; want one non-zero position for all", e.Position, res)
		}
		if e.CreatedDate.Before(before.Add(-time.Second)) || e.CreatedDate.After(time.Now().Add(time.Second)) {
			t.Fatalf("created %v, want about %v", e.CreatedDate, before)
		}
	})

	t.Run("returns_the_revision_and_position_of_the_last_event_written", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		first := appendTypes(t, c, "results", esdb.NoStream{}, "a", "b", "c")
		next := appendTypes(t, c, "results", esdb.Revision(2), "d")
		got := readStream(t, c, "results", esdb.ReadStreamOptions{}, 10)
		if first.NextExpectedVersion != 2 || next.NextExpectedVersion != 3 {
			t.Fatalf("next expected versions %d and %d, want 2 and 3", first.NextExpectedVersion, next.NextExpectedVersion)
		}
		if first.CommitPosition != got[2].Position.Commit || next.CommitPosition != got[3].Position.Commit {
			t.Fatalf("append positions %d and %d, want %d and %d", first.CommitPosition, next.CommitPosition, got[2].Position.Commit, got[3].Position.Commit)
		}
	})

	t.Run("answers_a_wrong_expected_version_with_the_current_revision", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		appendTypes(t, c, "at-one", esdb.NoStream{}, "a", "b")
		cases := []struct {
			stream   string
			expected esdb.ExpectedRevision
			want     string
		}{
			{"at-one", esdb.NoStream{}, "expecting 'no_stream' but got '1'"},
			{"at-one", esdb.Revision(0), "expecting '0' but got '1'"},
			{"at-one", esdb.Revision(7), "expecting '7' but got '1'"},
			{"missing", esdb.StreamExists{}, "expecting 'stream_exists' but got 'no_stream'"},
			{"missing", esdb.Revision(0), "expecting '0' but got 'no_stream'"},
		}
		for _, tc := range cases {
			_, err := c.AppendToStream(t.Context(), tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.expected},
				esdb.EventData{EventType: "late", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)})
			var e *esdb.Error
			if !errors.As(err, &e) || e.Code() != esdb.ErrorCodeWrongExpectedVersion || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("append to %s expecting %#v: got %v, want wrong expected version %q", tc.stream, tc.expected, err, tc.want)
			}
		}
		if got := readStream(t, c, "at-one", esdb.ReadStreamOptions{}, 10); len(got) != 2 {
			t.Fatalf("at-one holds %d events after refused appends, want 2", len(got))
		}
	})

	t.Run("refuses_subscriptions_to_one_stream_as_unsupported", func(t *testing.T) {
		t.Parallel()
		_, err := connect(t).SubscribeToStream(t.Context(), "any", esdb.SubscribeToStreamOptions{})
		var e *esdb.Error
		if !errors.As(err, &e) || e.Code() != esdb.ErrorCodeUnsupportedFeature {
			t.Fatalf("subscribe to a stream: got %v, want an unsupported feature error", err)
		}
	})
}
