package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/internal/testsupport/storetest"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func openTemp(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func event() eventstore.Event {
	return eventstore.Event{ID: uuid.NewString(), Type: "io.driftwatch.test.v1", Data: []byte(`{"n":1}`)}
}

func TestStore(t *testing.T) {
	t.Parallel()
	t.Run("passes_the_contract_suite", func(t *testing.T) {
		t.Parallel()
		// A small page makes subscriptions catch up in several reads, racing with appends.
		storetest.Run(t, func(t *testing.T) eventstore.Store {
			s, err := Open(Config{Dir: t.TempDir(), PageSize: 4})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			return s
		})
	})

	t.Run("refuses_a_data_dir_in_use_by_another_process", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		openTemp(t, Config{Dir: dir})
		start := time.Now()
		_, err := Open(Config{Dir: dir, LockTimeout: 100 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "data dir "+dir+" is in use by another driftwatch process") {
			t.Fatalf("second open of %s: got %v, want an in-use error", dir, err)
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("second open waited %v for the lock", waited)
		}
	})

	t.Run("keeps_events_and_ids_across_a_reopen", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		a, b := event(), event()
		first, err := s.Append(t.Context(), "s", eventstore.NoStream, a, b)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		s = openTemp(t, Config{Dir: dir})
		again, err := s.Append(t.Context(), "s", eventstore.Any, a, b)
		if err != nil || again != first {
			t.Fatalf("re-append after reopen: got %+v, %v, want %+v", again, err, first)
		}
		next, err := s.Append(t.Context(), "s", eventstore.Exact(1), event())
		if err != nil || next.NextRevision != 2 || next.Position <= first.Position {
			t.Fatalf("append after reopen: got %+v, %v, want revision 2 after position %d", next, err, first.Position)
		}
		got, err := s.ReadStream(t.Context(), "s", 0, 10)
		if err != nil || len(got) != 3 || got[0].ID != a.ID || got[1].ID != b.ID {
			t.Fatalf("read after reopen: got %d events, %v", len(got), err)
		}
	})

	t.Run("answers_each_append_of_a_batch_on_its_own", func(t *testing.T) {
		t.Parallel()
		s := openTemp(t, Config{})
		e1, e2, e3, e4, e5 := event(), event(), event(), event(), event()
		batch := []*appendReq{
			mustReq(t, "a", eventstore.NoStream, e1),
			mustReq(t, "a", eventstore.Exact(0), e2),
			mustReq(t, "a", eventstore.Exact(0), e3),
			mustReq(t, "b", eventstore.NoStream, e4),
			mustReq(t, "a", eventstore.Any, e1),
			mustReq(t, "a", eventstore.StreamExists, e2, e5),
		}
		s.commit(batch)
		want := []struct {
			rev      uint64
			pos      eventstore.Position
			conflict bool
		}{{0, 1, false}, {1, 2, false}, {0, 0, true}, {0, 3, false}, {0, 1, false}, {2, 4, false}}
		for i, req := range batch {
			rep := <-req.reply
			var wrong *eventstore.WrongRevisionError
			switch {
			case want[i].conflict:
				if !errors.As(rep.err, &wrong) || wrong.Actual != 1 {
					t.Fatalf("append %d: got %v, want a wrong revision error at actual 1", i, rep.err)
				}
			case rep.err != nil || rep.res[0].NextRevision != want[i].rev || rep.res[0].Position != want[i].pos:
				t.Fatalf("append %d: got %+v, %v, want revision %d position %d", i, rep.res, rep.err, want[i].rev, want[i].pos)
			}
		}
		if n := s.commits.Load(); n != 1 {
			t.Fatalf("batch took %d commits, want 1", n)
		}
		got, err := s.ReadStream(t.Context(), "a", 0, 10)
		if err != nil || len(got) != 3 || got[0].ID != e1.ID || got[1].ID != e2.ID || got[2].ID != e5.ID {
			t.Fatalf("stream a after the batch: %d events, %v", len(got), err)
		}
	})

	t.Run("gathers_queued_appends_into_one_commit", func(t *testing.T) {
		t.Parallel()
		s := openTemp(t, Config{})
		// An open write transaction holds the committer back while the appends queue up.
		tx, err := s.db.Begin(true)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		reqs := make([]*appendReq, 64)
		for i := range reqs {
			reqs[i] = mustReq(t, "queued", eventstore.Any, event())
			if err := s.enqueue(t.Context(), reqs[i]); err != nil {
				t.Fatalf("enqueue %d: %v", i, err)
			}
		}
		if err := tx.Rollback(); err != nil {
			t.Fatalf("rollback: %v", err)
		}
		for i, req := range reqs {
			if rep := <-req.reply; rep.err != nil || rep.res[0].NextRevision != uint64(i) {
				t.Fatalf("append %d: got %+v, %v, want revision %d", i, rep.res, rep.err, i)
			}
		}
		// The committer may have taken the first append before the rest were queued.
		if n := s.commits.Load(); n > 2 {
			t.Fatalf("64 queued appends took %d commits, want at most 2", n)
		}
	})

	t.Run("ends_subscriptions_and_refuses_work_once_closed", func(t *testing.T) {
		t.Parallel()
		s, err := Open(Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		sub, err := s.Subscribe(t.Context(), 0)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if _, ok := <-sub.Events(); ok || !errors.Is(sub.Err(), ErrClosed) {
			t.Fatalf("subscription after close: open %v, err %v, want closed with ErrClosed", ok, sub.Err())
		}
		if _, err := s.Append(t.Context(), "s", eventstore.Any, event()); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after close: got %v, want ErrClosed", err)
		}
		if _, err := s.ReadAll(t.Context(), 0, 10); !errors.Is(err, ErrClosed) {
			t.Fatalf("read after close: got %v, want ErrClosed", err)
		}
		if _, err := s.Subscribe(t.Context(), 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("subscribe after close: got %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	})

	t.Run("reports_every_config_problem_at_once", func(t *testing.T) {
		t.Parallel()
		err := Config{LockTimeout: -1, MaxBatch: -1, PageSize: -1}.Validate()
		for _, want := range []string{"dir", "lock timeout", "max batch", "page size"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("validate: got %v, want a problem with %s", err, want)
			}
		}
	})

	t.Run("refuses_reads_without_a_positive_max", func(t *testing.T) {
		t.Parallel()
		s := openTemp(t, Config{})
		if _, err := s.ReadAll(t.Context(), 0, 0); err == nil {
			t.Fatal("read all with max 0: got no error")
		}
		if _, err := s.ReadStream(t.Context(), "s", 0, -1); err == nil {
			t.Fatal("read stream with max -1: got no error")
		}
	})
}

func mustReq(t *testing.T, stream string, expected eventstore.Revision, evs ...eventstore.Event) *appendReq {
	t.Helper()
	req, err := newAppendReq([]eventstore.Append{{Stream: stream, Expected: expected, Events: evs}})
	if err != nil {
		t.Fatalf("new append request: %v", err)
	}
	return req
}

func TestLargeDataIsStoredCompressedAndReadBackByteForByte(t *testing.T) {
	t.Parallel()
	s := openTemp(t, Config{})
	var b strings.Builder
	b.WriteString(`{"packages":{`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"pkg-%03d": {"version": "1.%d.0", "arch":"amd64"}`, i, i%7)
	}
	b.WriteString(`}}`)
	big := eventstore.Event{ID: uuid.NewString(), Type: "io.driftwatch.test.v1", Data: []byte(b.String())}
	small := event()
	if _, err := s.Append(t.Context(), "large", eventstore.NoStream, big, small); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadStream(t.Context(), "large", 0, 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("read %d records: %v", len(recs), err)
	}
	if !bytes.Equal(recs[0].Data, big.Data) || !bytes.Equal(recs[1].Data, small.Data) {
		t.Fatalf("data changed on the way through the store")
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketEvents).Get(u64(uint64(recs[0].Position)))
		if v[0] != recordCompressed || len(v) > len(big.Data)/3 {
			t.Errorf("a %d-byte event is stored in %d bytes, format %d", len(big.Data), len(v), v[0])
		}
		if v := tx.Bucket(bucketEvents).Get(u64(uint64(recs[1].Position))); v[0] != recordVersion {
			t.Errorf("a small event is stored in format %d", v[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
