package bolt

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// benchData is a typical fact: a DriftDetected_v1 envelope of about 700 bytes.
var benchData = []byte(`{"specversion":"1.0","id":"5f0c7a52-8d3e-4c61-9a5b-3f2e1d0c9b8a","source":"driftwatch",` +
	`"type":"io.driftwatch.drift.detected.v1","subject":"ci-web-01","time":"2024-05-01T10:00:00.123456789Z",` +
	`"datacontenttype":"application/json","data":{"drift_id":"0e4c2a1b-7d6f-5e8a-9b3c-2d1e0f9a8b7c",` +
	`"ci_id":"web-01","ci_type":"server","template_id":"linux-web","policy_id":"pol-ssh",` +
	`"observation_id":"obs-7c3d","field":"/sshd/PermitRootLogin","desired":"no","actual":"yes",` +
	`"patch":[{"op":"replace","path":"/sshd/PermitRootLogin","value":"no"}],"category":"security",` +
	`"severity":"high","action_type":"change_request","auto_change_request":true,"auto_remediate":false,` +
	`"notify":["secops"],"detected_at":"2024-05-01T10:00:00.1Z"},"correlationid":"c-1","causationid":"m-1"}`)

func benchEvent() eventstore.Event {
	return eventstore.Event{ID: uuid.NewString(), Type: "io.driftwatch.drift.detected.v1", Data: benchData}
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkAppend measures durable appends of one event: ns/op is the latency one writer
// sees, and with 32 writers the wall time per event, whose inverse is the throughput.
func BenchmarkAppend(b *testing.B) {
	b.Run("single_writer", func(b *testing.B) {
		s := openBench(b)
		for b.Loop() {
			if _, err := s.Append(b.Context(), "bench", eventstore.Any, benchEvent()); err != nil {
				b.Fatalf("append: %v", err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("32_concurrent_writers", func(b *testing.B) {
		s := openBench(b)
		commits := s.commits.Load()
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := range 32 {
			wg.Go(func() {
				stream := fmt.Sprintf("bench-%d", w)
				for next.Add(1) <= int64(b.N) {
					if _, err := s.Append(b.Context(), stream, eventstore.Any, benchEvent()); err != nil {
						b.Errorf("append: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.N)/float64(s.commits.Load()-commits), "events/commit")
	})
}

// BenchmarkReadAll measures a full read of a 10,000-event log in pages of 1,000: one op is
// the whole log.
func BenchmarkReadAll(b *testing.B) {
	const total, page = 10_000, 1_000
	s := openBench(b)
	for range total / 100 {
		if _, err := s.Append(b.Context(), "bench", eventstore.Any, benchEvents(100)...); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	b.SetBytes(int64(total * len(benchData)))
	for b.Loop() {
		var after eventstore.Position
		n := 0
		for {
			recs, err := s.ReadAll(b.Context(), after, page)
			if err != nil {
				b.Fatalf("read all: %v", err)
			}
			if len(recs) == 0 {
				break
			}
			n += len(recs)
			after = recs[len(recs)-1].Position
		}
		if n != total {
			b.Fatalf("read %d events, want %d", n, total)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}

func benchEvents(n int) []eventstore.Event {
	evs := make([]eventstore.Event, n)
	for i := range evs {
		evs[i] = benchEvent()
	}
	return evs
}
