// Package storetest is the contract suite of the event store port: the behaviour every adapter
// of eventstore.Store must show. An adapter's tests call Run with a function that opens a
// store; the suite uses unique stream names and tolerates foreign events in the global order,
// so it can run against a shared server as well as against a fresh embedded store.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// waitTimeout bounds every wait of the suite; nothing sleeps.
const waitTimeout = 15 * time.Second

// contract is one behaviour of the port.
type contract struct {
	name string
	run  func(t *testing.T, s eventstore.Store)
}

// contracts lists every behaviour, grouped by the file that tests it.
func contracts() []contract {
	var all []contract
	all = append(all, appendContracts()...)
	all = append(all, idempotencyContracts()...)
	all = append(all, readContracts()...)
	all = append(all, subscribeContracts()...)
	all = append(all, concurrencyContracts()...)
	all = append(all, manyContracts()...)
	return all
}

// Run runs the contract suite: one parallel subtest per behaviour, each on a store from open.
// open may return a fresh store or a connection to a shared one; Run closes each store it
// opens when the subtest ends. A store whose AppendMany is atomic says so with a method
// AtomicAppendMany() bool returning true, and the suite then checks that a failed call
// wrote nothing.
func Run(t *testing.T, open func(t *testing.T) eventstore.Store) {
	t.Helper()
	for _, c := range contracts() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			c.run(t, s)
		})
	}
}

// testContext is a context bounded by waitTimeout and ended with the test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// streamName returns a stream name no other test or run uses.
func streamName(label string) string {
	return "storetest-" + label + "-" + uuid.NewString()
}

// newEvent returns an event with a fresh UUID and a CloudEvents envelope whose spacing,
// escapes and number formats must survive byte for byte.
func newEvent(label string) eventstore.Event {
	id := uuid.NewString()
	data := fmt.Sprintf(`{"specversion":"1.0", "id":%q,"source":"storetest","type":"io.driftwatch.storetest.v1",`+
		`"time":"2024-05-01T10:00:00.123456789Z","data":{"label":%q,"text":"caf\u00e9 ☃ \"q\"","n":1.50,"list":[ 1,2 ]}}`,
		id, label)
	return eventstore.Event{ID: id, Type: "io.driftwatch.storetest.v1", Data: []byte(data)}
}

// newEvents returns n events from newEvent.
func newEvents(label string, n int) []eventstore.Event {
	evs := make([]eventstore.Event, n)
	for i := range evs {
		evs[i] = newEvent(fmt.Sprintf("%s-%d", label, i))
	}
	return evs
}

// mustAppend appends and fails the test on error.
func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.Revision, evs ...eventstore.Event) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(testContext(t), stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s expecting %d: %v", len(evs), stream, expected, err)
	}
	return res
}

// mark appends one event to a stream of its own and returns its position: the events the
// test appends afterwards all come after it in the global order.
func mark(t *testing.T, s eventstore.Store) eventstore.Position {
	t.Helper()
	return mustAppend(t, s, streamName("mark"), eventstore.NoStream, newEvent("mark")).Position
}

// readAllUntil pages through ReadAll from after until it has passed position until, and
// returns every event read, foreign ones included.
func readAllUntil(t *testing.T, s eventstore.Store, after, until eventstore.Position) []eventstore.Recorded {
	t.Helper()
	var all []eventstore.Recorded
	for after < until {
		page, err := s.ReadAll(testContext(t), after, 50)
		if err != nil {
			t.Fatalf("read all after %d: %v", after, err)
		}
		if len(page) == 0 {
			t.Fatalf("read all after %d: no events, but position %d was appended", after, until)
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
	return all
}

// inStreams keeps the events of the given streams, in order.
func inStreams(recs []eventstore.Recorded, streams ...string) []eventstore.Recorded {
	var out []eventstore.Recorded
	for _, r := range recs {
		for _, s := range streams {
			if r.Stream == s {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// ids lists the IDs of recorded events.
func ids(recs []eventstore.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// eventIDs lists the IDs of events to append.
func eventIDs(evs []eventstore.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// sameIDs fails the test unless got and want list the same IDs in the same order.
func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %s, want %s (got %v, want %v)", what, i, got[i], want[i], got, want)
		}
	}
}

// strictlyIncreasing fails the test unless positions grow from one event to the next.
func strictlyIncreasing(t *testing.T, what string, recs []eventstore.Recorded) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Position <= recs[i-1].Position {
			t.Fatalf("%s: position %d at index %d follows %d", what, recs[i].Position, i, recs[i-1].Position)
		}
	}
}
