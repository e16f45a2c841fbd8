package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func concurrencyContracts() []contract {
	return []contract{
		{"concurrent_exact_appends_have_one_winner_per_revision", concurrentExactAppendsHaveOneWinner},
	}
}

// concurrentExactAppendsHaveOneWinner races writers for each slot of a stream: every writer
// tries every slot in turn, expecting the revision before it. Whatever the interleaving, the
// stream holds exactly one event per slot, and it is the one whose append succeeded.
func concurrentExactAppendsHaveOneWinner(t *testing.T, s eventstore.Store) {
	const writers, slots = 8, 12
	stream := streamName("race-exact")
	ctx := testContext(t)

	var mu sync.Mutex
	winners := make([][]eventstore.Event, slots)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for slot := range slots {
				expected := eventstore.NoStream
				if slot > 0 {
					expected = eventstore.Exact(uint64(slot - 1))
				}
				e := newEvent("writer")
				res, err := s.Append(ctx, stream, expected, e)
				switch {
				case errors.Is(err, eventstore.ErrWrongRevision):
					continue
				case err != nil:
					t.Errorf("writer %d, slot %d: %v", w, slot, err)
					return
				case res.NextRevision != uint64(slot):
					t.Errorf("writer %d won slot %d but got next revision %d", w, slot, res.NextRevision)
				}
				mu.Lock()
				winners[slot] = append(winners[slot], e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	want := make([]eventstore.Event, slots)
	for slot, won := range winners {
		if len(won) != 1 {
			t.Fatalf("slot %d has %d winners, want exactly one", slot, len(won))
		}
		want[slot] = won[0]
	}
	wantStream(t, s, stream, want...)
}
