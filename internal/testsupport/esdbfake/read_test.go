package esdbfake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// names lists events as stream/revision.
func names(evs []*esdb.RecordedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%s/%d", e.StreamID, e.EventNumber)
	}
	return out
}

func TestRead(t *testing.T) {
	t.Parallel()

	t.Run("reads_a_stream_forwards_and_backwards_from_any_start", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		appendTypes(t, c, "s", esdb.NoStream{}, "a", "b", "c", "d")
		cases := []struct {
			opts  esdb.ReadStreamOptions
			count uint64
			want  []string
		}{
			{esdb.ReadStreamOptions{From: esdb.Start{}}, 10, []string{"s/0", "s/1", "s/2", "s/3"}},
			{esdb.ReadStreamOptions{From: esdb.Revision(2)}, 10, []string{"s/2", "s/3"}},
			{esdb.ReadStreamOptions{From: esdb.Revision(1)}, 2, []string{"s/1", "s/2"}},
			{esdb.ReadStreamOptions{From: esdb.Revision(9)}, 10, []string{}},
			{esdb.ReadStreamOptions{From: esdb.End{}}, 10, []string{}},
			{esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2, []string{"s/3", "s/2"}},
			{esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, 10, []string{"s/1", "s/0"}},
			{esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 10, []string{"s/0"}},
		}
		for _, tc := range cases {
			if got := names(readStream(t, c, "s", tc.opts, tc.count)); !slices.Equal(got, tc.want) {
				t.Fatalf("read %+v count %d: got %v, want %v", tc.opts, tc.count, got, tc.want)
			}
		}
	})

	t.Run("reports_a_missing_stream_as_not_found", func(t *testing.T) {
		t.Parallel()
		rs, err := connect(t).ReadStream(t.Context(), "never", esdb.ReadStreamOptions{}, 10)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		defer rs.Close()
		_, err = rs.Recv()
		var e *esdb.Error
		if !errors.As(err, &e) || e.Code() != esdb.ErrorCodeResourceNotFound {
			t.Fatalf("read of a missing stream: got %v, want resource not found", err)
		}
	})

	t.Run("reads_all_forwards_inclusively_and_backwards_exclusively", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		appendTypes(t, c, "x", esdb.NoStream{}, "a", "b")
		appendTypes(t, c, "y", esdb.NoStream{}, "c")
		all := readAll(t, c, esdb.ReadAllOptions{}, 10)
		if got := names(all); !slices.Equal(got, []string{"x/0", "x/1", "y/0"}) {
			t.Fatalf("read all: got %v", got)
		}
		if all[0].Position.Commit == 0 || all[1].Position.Commit <= all[0].Position.Commit+1 || all[2].Position.Commit <= all[1].Position.Commit+1 {
			t.Fatalf("positions %v, %v, %v: want non-zero, increasing, with gaps", all[0].Position, all[1].Position, all[2].Position)
		}
		mid := all[1].Position
		cases := []struct {
			opts esdb.ReadAllOptions
			want []string
		}{
			{esdb.ReadAllOptions{From: mid}, []string{"x/1", "y/0"}},
			{esdb.ReadAllOptions{From: esdb.End{}}, []string{}},
			{esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, []string{"y/0", "x/1", "x/0"}},
			{esdb.ReadAllOptions{Direction: esdb.Backwards, From: mid}, []string{"x/0"}},
		}
		for _, tc := range cases {
			if got := names(readAll(t, c, tc.opts, 10)); !slices.Equal(got, tc.want) {
				t.Fatalf("read all %+v: got %v, want %v", tc.opts, got, tc.want)
			}
		}
	})

	t.Run("subscribes_to_all_through_catch_up_checkpoints_and_live_events", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		appendTypes(t, c, "x", esdb.NoStream{}, "a", "b")
		appendTypes(t, c, "sys", esdb.NoStream{}, "$hidden")
		appendTypes(t, c, "x", esdb.Revision(1), "c")
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
			From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter(), MaxSearchWindow: 2, CheckpointInterval: 1,
		})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		defer func() { _ = sub.Close() }()
		var got []string
		for len(got) < 7 {
			switch e := sub.Recv(); {
			case e.EventAppeared != nil:
				got = append(got, names([]*esdb.RecordedEvent{e.EventAppeared.Event})...)
			case e.CheckPointReached != nil:
				got = append(got, "checkpoint")
			case e.CaughtUp != nil:
				got = append(got, "caught up")
				appendTypes(t, c, "x", esdb.Revision(2), "live")
			case e.SubscriptionDropped != nil:
				t.Fatalf("subscription dropped after %v: %v", got, e.SubscriptionDropped.Error)
			}
		}
		want := []string{"x/0", "x/1", "checkpoint", "x/2", "checkpoint", "caught up", "x/3"}
		if !slices.Equal(got, want) {
			t.Fatalf("subscription delivered %v, want %v", got, want)
		}
	})

	t.Run("subscribes_to_all_after_a_position", func(t *testing.T) {
		t.Parallel()
		c := connect(t)
		appendTypes(t, c, "x", esdb.NoStream{}, "a", "b", "c")
		all := readAll(t, c, esdb.ReadAllOptions{}, 10)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: all[0].Position})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		defer func() { _ = sub.Close() }()
		if e := sub.Recv(); e.EventAppeared == nil || e.EventAppeared.Event.EventNumber != 1 {
			t.Fatalf("first delivery after x/0: got %+v, want x/1", e)
		}
	})
}
