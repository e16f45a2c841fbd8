package redisbus

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/pipeline/bus"
)

// ErrClosed is returned by every operation on a closed Bus.
var ErrClosed = errors.New("redis bus closed")

// Bus is the Redis Streams bus. It is safe for concurrent use.
type Bus struct {
	cfg    Config
	client *redis.Client
	owned  bool // the client came from URL: Close closes it
	pub    *publisher

	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	subs    map[*subscriber]struct{}
	streams map[string]map[string]bool // topics read (with their groups) or written here
	lagging map[string]bool            // "topic group" keys raised as lagging
}

var _ bus.Bus = (*Bus)(nil)

// New builds a Bus from cfg. It does not contact the server: the first Publish or Subscribe
// does.
func New(cfg Config) (*Bus, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis bus config: %w", err)
	}
	b := &Bus{cfg: cfg, done: make(chan struct{}), subs: map[*subscriber]struct{}{}, streams: map[string]map[string]bool{}, lagging: map[string]bool{}}
	if cfg.Client != nil {
		b.client = cfg.Client
	} else {
		opts, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("parse redis url: %w", err)
		}
		// Every subscription holds one connection in a blocking read; leave room for the
		// publisher, the acks and the trimmer.
		opts.PoolSize = max(opts.PoolSize, 64)
		b.client, b.owned = redis.NewClient(opts), true
	}
	b.pub = newPublisher(b)
	if cfg.TrimInterval > 0 {
		b.wg.Add(1)
		go b.trimLoop()
	}
	return b, nil
}

// Publisher returns the bus's publisher: it pipelines the XADDs of concurrent Publish calls.
// Its Close does nothing: Bus.Close ends it.
func (b *Bus) Publisher() message.Publisher { return b.pub }

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
	s := &subscriber{bus: b, group: group, closing: make(chan struct{})}
	b.subs[s] = struct{}{}
	return s, nil
}

// Close closes every subscriber, waits for in-flight publishes, and closes the client it
// owns. It is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	subs := make([]*subscriber, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Close())
	}
	b.pub.stop()
	b.wg.Wait()
	if b.owned {
		if err := b.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis client: %w", err))
		}
	}
	return errors.Join(errs...)
}

// live fails once the bus is closed.
func (b *Bus) live() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// track remembers a stream this process reads (with group) or writes (group ""), for the
// trimmer.
func (b *Bus) track(topic, group string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	groups := b.streams[topic]
	if groups == nil {
		groups = map[string]bool{}
		b.streams[topic] = groups
	}
	if group != "" {
		groups[group] = true
	}
}

// forget drops a closed subscriber from the set Close closes.
func (b *Bus) forget(s *subscriber) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}
