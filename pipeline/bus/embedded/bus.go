package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	bbolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// ErrClosed is returned by every operation on a closed Bus.
var ErrClosed = errors.New("embedded bus closed")

// checkpointBucket maps a group and topic (group, 0, topic) to the group's checkpoint, a
// big-endian store position.
var checkpointBucket = []byte("checkpoints")

// Bus is the embedded bus. It is safe for concurrent use.
type Bus struct {
	cfg Config
	db  *bbolt.DB
	log watermill.LoggerAdapter

	ctx    context.Context // ends every reader and subscription at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	groups map[string]*group // by checkpointKey
}

var _ bus.Bus = (*Bus)(nil)

// Open opens the checkpoint file and returns a Bus over cfg.Store.
func Open(cfg Config) (*Bus, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedded bus config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("embedded bus: %w", err)
	}
	// Checkpoints are written without fsync: a checkpoint lost to a power cut only means
	// redelivery of what followed it, which the stages are idempotent for. A file a power cut
	// left damaged is started again (every group from position 0, its facts redelivered).
	opts := &bbolt.Options{Timeout: cfg.LockTimeout, NoSync: true, NoFreelistSync: true}
	db, err := bbolt.Open(cfg.Path, 0o600, opts)
	if err != nil && !errors.Is(err, bbolt.ErrTimeout) {
		cfg.Logger.Error("Bus checkpoints unreadable; starting them again", err, watermill.LogFields{"path": cfg.Path})
		if rmErr := os.Remove(cfg.Path); rmErr == nil {
			db, err = bbolt.Open(cfg.Path, 0o600, opts)
		}
	}
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("bus checkpoints %s are in use by another driftwatch process", cfg.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("open bus checkpoints %s: %w", cfg.Path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(checkpointBucket)
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("initialise bus checkpoints %s: %w", cfg.Path, err), db.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{cfg: cfg, db: db, log: cfg.Logger, ctx: ctx, cancel: cancel, groups: map[string]*group{}}
	b.wg.Add(1)
	go b.saveLoop()
	return b, nil
}

// Publisher returns the bus's publisher; its Close does nothing (Bus.Close ends the bus).
func (b *Bus) Publisher() message.Publisher { return publisher{b} }

// Subscriber returns a subscriber in consumer group group.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if group == "" {
		return nil, errors.New("subscriber: consumer group required")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	return newSubscriber(b, group), nil
}

// Close ends every subscription and reader, persists the checkpoints and closes the file. It
// is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	err := b.save()
	return errors.Join(err, b.db.Close())
}

// groupFor returns the shared state of group on topic, starting its reader at the persisted
// checkpoint the first time.
func (b *Bus) groupFor(name, topic string) (*group, error) {
	key := checkpointKey(name, topic)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if g, ok := b.groups[key]; ok {
		return g, nil
	}
	var from eventstore.Position
	if err := b.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(checkpointBucket).Get([]byte(key)); len(v) == 8 {
			from = eventstore.Position(binary.BigEndian.Uint64(v))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read checkpoint of %s on %s: %w", name, topic, err)
	}
	g := newGroup(b, name, topic, from)
	b.groups[key] = g
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		g.read(b.ctx)
	}()
	return g, nil
}

// saveLoop persists the checkpoints that moved, every CheckpointInterval, until Close.
func (b *Bus) saveLoop() {
	defer b.wg.Done()
	tick := time.NewTicker(max(b.cfg.CheckpointInterval, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
			if err := b.save(); err != nil {
				b.log.Error("Persisting bus checkpoints failed", err, nil)
			}
		}
	}
}

// save writes every checkpoint that moved since it was last written, in one transaction.
func (b *Bus) save() error {
	b.mu.Lock()
	groups := make([]*group, 0, len(b.groups))
	for _, g := range b.groups {
		groups = append(groups, g)
	}
	b.mu.Unlock()
	type change struct {
		g   *group
		pos eventstore.Position
	}
	var changes []change
	for _, g := range groups {
		if pos, moved := g.checkpoint(); moved {
			changes = append(changes, change{g, pos})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	err := b.db.Update(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(checkpointBucket)
		for _, c := range changes {
			if err := bk.Put([]byte(checkpointKey(c.g.name, c.g.topic)), binary.BigEndian.AppendUint64(nil, uint64(c.pos))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("persist bus checkpoints: %w", err)
	}
	for _, c := range changes {
		c.g.saved(c.pos)
	}
	return nil
}

func checkpointKey(group, topic string) string { return group + "\x00" + topic }

// Lags reports, for every group this bus serves, its messages read and not acknowledged
// plus the events of the store its reader has not looked at yet (of any topic: an upper
// bound of what is left for it).
func (b *Bus) Lags(ctx context.Context) ([]bus.GroupLag, error) {
	head, err := headOf(ctx, b.cfg.Store)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	groups := make([]*group, 0, len(b.groups))
	for _, g := range b.groups {
		groups = append(groups, g)
	}
	b.mu.Unlock()
	out := make([]bus.GroupLag, 0, len(groups))
	for _, g := range groups {
		g.mu.Lock()
		waiting := int64(len(g.pending)) + max(int64(head)-int64(max(g.readPos(), g.seen)), 0)
		g.mu.Unlock()
		out = append(out, bus.GroupLag{Topic: g.topic, Group: g.name, Waiting: waiting})
	}
	slices.SortFunc(out, func(x, y bus.GroupLag) int { return strings.Compare(x.Topic+x.Group, y.Topic+y.Group) })
	return out, nil
}

// headOf is the store's last position, when it can tell.
func headOf(ctx context.Context, s eventstore.Store) (eventstore.Position, error) {
	h, ok := s.(eventstore.Header)
	if !ok {
		return 0, eventstore.ErrNoHead
	}
	return h.Head(ctx)
}
