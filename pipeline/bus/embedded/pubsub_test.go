package embedded_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
)

// features are what this adapter really guarantees. Order holds only with one subscriber in
// a group and within one subject (the suite's messages have none, so they share one lane),
// so GuaranteedOrder is false and the order tests run on their own below. Every pair the
// constructors return comes from one shared Bus, which is how instances share data in one
// process: so Persistent holds and RequireSingleInstance is not needed. Under -race the suite
// runs short (see raceEnabled); without it, in full.
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

// constructors returns the suite's constructors on b. A plain pair gets a fresh consumer
// group, so that a new pair reads the whole topic.
func constructors(b *embedded.Bus) (tests.PubSubConstructor, tests.ConsumerGroupPubSubConstructor) {
	withGroup := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
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
	plain, withGroup := constructors(openRig(t, "", embedded.Config{}).bus)
	tests.TestPubSub(t, features, plain, withGroup)
}

func TestSingleSubscriber(t *testing.T) {
	t.Parallel()
	plain, _ := constructors(openRig(t, "", embedded.Config{}).bus)
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
