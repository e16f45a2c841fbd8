package redisbus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/pipeline/bus"
)

// ErrClosed is returned by every operation on a closed Bus.
var ErrClosed = errors.New("redis bus closed")

// Bus is the Redis Streams bus. It is safe for concurrent use.
type Bus struct {
	cfg    Config
	client *redis.Client // the publisher's; owned (and closed) only in URL mode
	pub    *redisstream.Publisher

	mu     sync.RWMutex // held for reading by every Publish, for writing by Close
	closed bool
	subs   map[*subscriber]struct{}
}

var _ bus.Bus = (*Bus)(nil)

// New builds a Bus from cfg. It does not contact the server: the first Publish or Subscribe
// does.
func New(cfg Config) (*Bus, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis bus config: %w", err)
	}
	b := &Bus{cfg: cfg, subs: make(map[*subscriber]struct{})}
	client, err := b.newClient()
	if err != nil {
		return nil, err
	}
	b.client = client
	b.pub, err = redisstream.NewPublisher(redisstream.PublisherConfig{
		Client:     unclosable{client},
		Marshaller: Marshaller{MaxEntryBytes: cfg.MaxEntryBytes},
	}, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("redis publisher: %w", err)
	}
	return b, nil
}

// newClient returns a fresh client in URL mode, or the shared Config.Client.
func (b *Bus) newClient() (*redis.Client, error) {
	if b.cfg.Client != nil {
		return b.cfg.Client, nil
	}
	// Each client needs its own Options: go-redis normalises them in place.
	opts, err := redis.ParseURL(b.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// Publisher returns the bus's publisher. Its Close does nothing (the watermill router closes
// the publishers of its handlers; the bus's must outlive them): Bus.Close ends it.
func (b *Bus) Publisher() message.Publisher { return publisher{b} }

// Subscriber returns a subscriber in consumer group group, as consumer Config.Consumer. A new
// group reads its topic from the first entry. Closing the subscriber leaves the bus usable.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if group == "" {
		return nil, errors.New("subscriber: consumer group required")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	client, err := b.newClient()
	if err != nil {
		return nil, err
	}
	var rc redis.UniversalClient = client
	if b.cfg.Client != nil {
		// The stock subscriber closes its client on Close; the shared one must survive.
		rc = unclosable{client}
	}
	nackSleep := redisstream.NoSleep
	if b.cfg.NackResendDelay > 0 {
		nackSleep = b.cfg.NackResendDelay
	}
	inner, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:                        rc,
		Unmarshaller:                  Marshaller{MaxEntryBytes: b.cfg.MaxEntryBytes},
		Consumer:                      b.cfg.Consumer,
		ConsumerGroup:                 group,
		NackResendSleep:               nackSleep,
		BlockTime:                     b.cfg.BlockTime,
		ClaimInterval:                 b.cfg.ClaimInterval,
		MaxIdleTime:                   b.cfg.MaxIdleTime,
		OldestId:                      "0",
		DisableIndefiniteInitialBlock: true,
		// A cancelled read is a shutdown, not a failure to log and retry.
		ShouldStopOnReadErrors: func(err error) bool { return errors.Is(err, context.Canceled) },
	}, b.cfg.Logger.With(watermill.LogFields{"consumer_group": group}))
	if err != nil {
		return nil, fmt.Errorf("redis subscriber for %s: %w", group, err)
	}
	s := &subscriber{inner: inner, bus: b, client: rc, group: group}
	b.subs[s] = struct{}{}
	return s, nil
}

// Close closes every subscriber, waits for in-flight publishes, and closes the clients the
// bus owns. It is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := make([]*subscriber, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()

	var errs []error
	for _, s := range subs {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if b.cfg.Client == nil {
		if err := b.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close publisher client: %w", err))
		}
	}
	return errors.Join(errs...)
}

// forget drops a closed subscriber from the set Close closes.
func (b *Bus) forget(s *subscriber) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}
