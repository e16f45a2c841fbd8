package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

func subscribeContracts() []contract {
	return []contract{
		{"subscription_catches_up_then_follows_live_appends", subscriptionCatchesUpThenFollows},
		{"subscription_sees_appends_racing_with_its_catch_up", subscriptionSeesAppendsRacingWithCatchUp},
		{"subscription_ends_when_its_context_is_cancelled", subscriptionEndsWithContext},
		{"filtered_subscription_delivers_only_what_it_keeps_and_follows", filteredSubscriptionKeepsAndFollows},
	}
}

// follower reads a subscription, checks that positions strictly increase over every event
// it delivers, and keeps the events of the test's own streams.
type follower struct {
	sub     eventstore.Subscription
	streams []string
	last    eventstore.Position
	ours    []eventstore.Recorded
}

func follow(t *testing.T, ctx context.Context, s eventstore.Store, after eventstore.Position, streams ...string) *follower {
	t.Helper()
	sub, err := s.Subscribe(ctx, after)
	if err != nil {
		t.Fatalf("subscribe after %d: %v", after, err)
	}
	return &follower{sub: sub, streams: streams, last: after}
}

// until reads until n events of the test's streams have arrived, or fails at the deadline.
func (f *follower) until(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for len(f.ours) < n {
		select {
		case r, ok := <-f.sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(f.ours), n, f.sub.Err())
			}
			if r.Position <= f.last {
				t.Fatalf("subscription delivered position %d after %d", r.Position, f.last)
			}
			f.last = r.Position
			f.ours = append(f.ours, inStreams([]eventstore.Recorded{r}, f.streams...)...)
		case <-deadline.C:
			t.Fatalf("subscription delivered %d of %d events within %v", len(f.ours), n, waitTimeout)
		}
	}
}

func subscriptionCatchesUpThenFollows(t *testing.T, s eventstore.Store) {
	one, two := streamName("sub-1"), streamName("sub-2")
	mustAppend(t, s, one, eventstore.NoStream, newEvent("before-start"))
	start := mark(t, s)
	past := newEvents("past", 5)
	mustAppend(t, s, one, eventstore.Any, past[:2]...)
	mustAppend(t, s, two, eventstore.Any, past[2:]...)

	f := follow(t, testContext(t), s, start, one, two)
	f.until(t, len(past))
	sameIDs(t, "caught up", ids(f.ours), eventIDs(past))

	live := newEvents("live", 6)
	var last eventstore.Position
	for i, e := range live {
		last = mustAppend(t, s, []string{one, two}[i%2], eventstore.Any, e).Position
	}
	f.until(t, len(past)+len(live))
	sameIDs(t, "followed", ids(f.ours), append(eventIDs(past), eventIDs(live)...))
	sameIDs(t, "subscription against read all", ids(f.ours), ids(inStreams(readAllUntil(t, s, start, last), one, two)))
}

func subscriptionSeesAppendsRacingWithCatchUp(t *testing.T, s eventstore.Store) {
	one, two := streamName("race-1"), streamName("race-2")
	start := mark(t, s)
	past := newEvents("past", 24)
	for i := 0; i < len(past); i += 6 {
		mustAppend(t, s, one, eventstore.Any, past[i:i+6]...)
	}

	live := newEvents("live", 40)
	// The appender reports through done, never through t: it may outlive a failed test.
	type outcome struct {
		last eventstore.Position
		err  error
	}
	done := make(chan outcome, 1)
	ctx := testContext(t)
	go func() {
		var o outcome
		defer func() { done <- o }()
		for i, e := range live {
			res, err := s.Append(ctx, []string{one, two}[i%2], eventstore.Any, e)
			if err != nil {
				o.err = fmt.Errorf("live append %d: %w", i, err)
				return
			}
			o.last = res.Position
		}
	}()

	f := follow(t, ctx, s, start, one, two)
	f.until(t, len(past)+len(live))
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	last := o.last
	want := inStreams(readAllUntil(t, s, start, last), one, two)
	sameIDs(t, "subscription against read all", ids(f.ours), ids(want))
}

func subscriptionEndsWithContext(t *testing.T, s eventstore.Store) {
	stream := streamName("sub-cancel")
	start := mark(t, s)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	f := follow(t, ctx, s, start, stream)
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("live"))
	f.until(t, 1)

	cancel()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-f.sub.Events():
			if !ok {
				if err := f.sub.Err(); err != nil {
					t.Fatalf("subscription ended by its context: Err is %v, want nil", err)
				}
				return
			}
		case <-deadline.C:
			t.Fatalf("subscription still open %v after its context was cancelled", waitTimeout)
		}
	}
}

// filteredSubscriptionKeepsAndFollows subscribes, through eventstore.SubscribeFiltered (in the
// store if it filters, else from its full feed), to one stream and one event type of three
// streams, across a catch-up long enough that whole pages hold nothing kept.
func filteredSubscriptionKeepsAndFollows(t *testing.T, s eventstore.Store) {
	kept, typed, other := streamName("kept"), streamName("typed"), streamName("other")
	const keptType = "io.driftwatch.storetest.kept.v1"
	start := mark(t, s)
	var want []string
	appendOne := func(i int) eventstore.Position {
		t.Helper()
		e := newEvent(fmt.Sprint("e-", i))
		stream := other
		switch {
		case i%97 == 0:
			stream, want = kept, append(want, e.ID)
		case i%89 == 0:
			e.Type = keptType
			stream, want = typed, append(want, e.ID)
		case i%5 == 0:
			stream = typed // the stream alone does not keep it
		}
		return mustAppend(t, s, stream, eventstore.Any, e).Position
	}
	for i := 1; i <= 600; i++ {
		appendOne(i)
	}
	ctx := testContext(t)
	sub, err := eventstore.SubscribeFiltered(ctx, s, start, func(stream, typ string) bool {
		return stream == kept || typ == keptType
	})
	if err != nil {
		t.Fatalf("filtered subscribe: %v", err)
	}
	f := &follower{sub: sub, streams: []string{kept, typed, other}, last: start}
	f.until(t, len(want))
	var last eventstore.Position
	for i := 601; i <= 800; i++ {
		last = appendOne(i)
	}
	f.until(t, len(want))
	sameIDs(t, "filtered", ids(f.ours), want)
	for _, r := range f.ours {
		if r.Stream != kept && r.Type != keptType || len(r.Data) == 0 {
			t.Fatalf("filtered subscription delivered %s %s with %d bytes of data", r.Stream, r.Type, len(r.Data))
		}
	}
	all := inStreams(readAllUntil(t, s, start, last), kept, typed, other)
	if len(all) != 800 {
		t.Fatalf("read all has %d of the 800 events", len(all))
	}
}
