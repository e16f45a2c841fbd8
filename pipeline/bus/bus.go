// Package bus is the port to the message transport between stages. Adapters: redisbus (Redis
// Streams through watermill-redisstream) and embedded (a durable in-process bus for a single
// node). Both pass Watermill's universal Pub/Sub suite, and the same handlers run on either.
package bus

import (
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
