// Package bus is the port to the message transport between stages. Adapters: redisbus (Redis
// Streams through watermill-redisstream) and embedded (a durable in-process bus for a single
// node). Both pass Watermill's universal Pub/Sub suite, and the same handlers run on either.
package bus

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Bus hands out publishers and consumer-group subscribers over one transport.
type Bus interface {
	// Publisher returns the bus's publisher. It is safe for concurrent use; closing it is
	// the bus's job (Close).
	Publisher() message.Publisher
	// Subscriber returns a subscriber in the named consumer group. Messages on a topic are
	// shared among the subscribers of one group and delivered to every group, at least once.
	// Handler names are group names: stable kebab-case.
	Subscriber(group string) (message.Subscriber, error)
	// Close stops every subscriber and releases the transport.
	Close() error
}

// MetaMalformed marks a message whose stream entry could not be decoded. Its value is the
// reason and its payload the raw entry; the poison middleware parks it without calling the
// handler. Adapters set it instead of failing the subscription.
const MetaMalformed = "driftwatch_malformed"

// GroupLag is how far one consumer group is behind on one topic: the entries it has not yet
// been handed plus those handed and not acknowledged.
type GroupLag struct {
	Topic, Group string
	Waiting      int64
}

// Lagger is a Bus that reports its consumer groups' lag, for metrics and health.
type Lagger interface {
	Lags(ctx context.Context) ([]GroupLag, error)
}
