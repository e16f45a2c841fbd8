package embedded

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/bus"
)

// ErrClosed is returned by every operation on a closed Bus.
var ErrClosed = errors.New("embedded bus closed")

// Bus is the embedded bus over one bbolt file. It is safe for concurrent use. Only one Bus
// (in one process) can hold a file at a time.
type Bus struct {
	cfg Config
	db  *bolt.DB
	log watermill.LoggerAdapter

	reqs    chan *appendReq // Publish → committer
	acks    chan struct{}   // a group cursor changed; capacity 1
	stop    chan struct{}   // closed to stop the committer
	stopped chan struct{}   // closed by the committer on exit

	life    sync.RWMutex // Publish and Subscribe hold it for reading, Close for writing
	closed  bool
	closing chan struct{}  // closed by Close: every subscription ends
	running sync.WaitGroup // subscriptions

	mu     sync.Mutex
	topics map[string]*topic

	dirtyMu sync.Mutex
	dirty   map[*group]*topic // groups whose cursor changed since the last commit
}

var _ bus.Bus = (*Bus)(nil)

// Open opens (or creates) the bus file at cfg.Path.
func Open(cfg Config) (*Bus, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedded bus config: %w", err)
	}
	opts := *bolt.DefaultOptions
	opts.Timeout = cfg.OpenTimeout
	db, err := bolt.Open(cfg.Path, cfg.FileMode, &opts)
	if err != nil {
		return nil, fmt.Errorf("open bus file %s: %w", cfg.Path, err)
	}
	last, err := initBuckets(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("read bus file %s: %w", cfg.Path, err)
	}
	b := &Bus{
		cfg: cfg, db: db, log: cfg.Logger,
		reqs: make(chan *appendReq, cfg.MaxBatch), acks: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{}), closing: make(chan struct{}),
		topics: make(map[string]*topic, len(last)), dirty: make(map[*group]*topic),
	}
	for name, seq := range last {
		b.topics[name] = newTopic(name, seq)
	}
	go b.commitLoop()
	b.log.Info("Embedded bus opened", watermill.LogFields{"path": cfg.Path, "topics": len(last)})
	return b, nil
}

// Publisher returns the bus's publisher. Its Close does nothing (the watermill router closes
// the publishers of its handlers; the bus's must outlive them): Bus.Close ends it.
func (b *Bus) Publisher() message.Publisher { return publisher{b} }

// Subscriber returns a subscriber in consumer group group. Closing it ends its subscriptions
// and leaves the bus open.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if group == "" {
		return nil, errors.New("subscriber: consumer group required")
	}
	if len(group) > bolt.MaxKeySize {
		return nil, fmt.Errorf("subscriber: group name of %d bytes, over %d", len(group), bolt.MaxKeySize)
	}
	b.life.RLock()
	defer b.life.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	return newSubscriber(b, group), nil
}

// Close ends every subscription, persists the group cursors and closes the file. It is
// idempotent.
func (b *Bus) Close() error {
	b.life.Lock()
	if b.closed {
		b.life.Unlock()
		return nil
	}
	b.closed = true
	close(b.closing)
	b.life.Unlock()

	b.running.Wait()
	close(b.stop)
	<-b.stopped
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close bus file %s: %w", b.cfg.Path, err)
	}
	b.log.Info("Embedded bus closed", watermill.LogFields{"path": b.cfg.Path})
	return nil
}

// topicFor returns the state of topic name, creating an empty one.
func (b *Bus) topicFor(name string) *topic {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.topics[name]
	if !ok {
		t = newTopic(name, 0)
		b.topics[name] = t
	}
	return t
}

// groupFor returns the state of group on t, loading its cursor the first time.
func (b *Bus) groupFor(t *topic, name string) (*group, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g, ok := t.groups[name]; ok {
		return g, nil
	}
	c, err := loadCursor(b.db, t.name, name)
	if err != nil {
		return nil, err
	}
	g := newGroup(name, c)
	t.groups[name] = g
	return g, nil
}

// acked records that seq of t was acked in g; the committer persists the cursor.
func (b *Bus) acked(t *topic, g *group, seq uint64) {
	t.ack(g, seq)
	b.dirtyMu.Lock()
	b.dirty[g] = t
	b.dirtyMu.Unlock()
	select {
	case b.acks <- struct{}{}:
	default: // a commit is already due
	}
}
