package redisbus_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
)

// features are what this adapter really guarantees. Order holds only with one consumer in a
// group: several consumers interleave and claims of idle entries reorder, so GuaranteedOrder
// is false and the order tests run on their own below with a single subscriber.
// Under -race the suite runs short (see raceEnabled); without it, in full.
var features = tests.Features{
	ConsumerGroups:                      true,
	ExactlyOnceDelivery:                 false,
	GuaranteedOrder:                     false,
	GuaranteedOrderWithSingleSubscriber: true,
	Persistent:                          true,
	RequireSingleInstance:               false,
	NewSubscriberReceivesOldMessages:    true,
	ForceShort:                          raceEnabled,
}

// newBus returns a bus on srv with short timings, closed when the test ends. Each bus is one
// "process": its own consumer name.
func newBus(t testing.TB, srv *redistest.Server) *redisbus.Bus {
	t.Helper()
	b, err := redisbus.New(redisbus.Config{
		URL:           srv.URL(),
		Consumer:      "test-" + watermill.NewShortUUID(),
		BlockTime:     10 * time.Millisecond,
		ClaimInterval: 500 * time.Millisecond,
		MaxIdleTime:   2 * time.Second,
	})
	if err != nil {
		t.Fatalf("new bus: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close bus: %v", err)
		}
	})
	return b
}

// constructors returns the suite's constructors on srv. Like the stock redisstream tests, a
// plain pub/sub pair gets a fresh consumer group, so that a new pair reads the whole stream.
func constructors(srv *redistest.Server) (tests.PubSubConstructor, tests.ConsumerGroupPubSubConstructor) {
	withGroup := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		b := newBus(t, srv)
		sub, err := b.Subscriber(group)
		if err != nil {
			t.Fatalf("subscriber: %v", err)
		}
		return b.Publisher(), sub
	}
	plain := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "group-"+watermill.NewShortUUID())
	}
	return plain, withGroup
}

func TestUniversalSuite(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	plain, withGroup := constructors(srv)
	tests.TestPubSub(t, features, plain, withGroup)
}

func TestSingleSubscriber(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	plain, _ := constructors(srv)
	ordered := features
	ordered.GuaranteedOrder = true

	t.Run("receives_in_publish_order", func(t *testing.T) {
		t.Parallel()
		tests.TestPublishSubscribeInOrder(t, tests.TestContext{TestID: tests.NewTestID(), Features: ordered}, plain)
	})
	t.Run("waits_for_ack_before_the_next_message", func(t *testing.T) {
		t.Parallel()
		tests.TestNoAck(t, tests.TestContext{TestID: tests.NewTestID(), Features: ordered}, plain)
	})
}
