package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

// subscriber is one consumer group's subscriber; each Subscribe is one reading loop of the
// group's topic as this process's consumer.
type subscriber struct {
	bus   *Bus
	group string

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	running sync.WaitGroup
}

// Subscribe reads topic in the subscriber's group: first the entries this consumer left
// pending (what a crashed process was working on), then new ones, COUNT ReadBatch per
// XREADGROUP, plus the entries of dead consumers idle longer than MaxIdleTime (XAUTOCLAIM).
// Messages go out concurrently in lanes: those with the same CloudEvents subject one at a
// time, each after the previous was acked, so a stage sees one CI in order while different
// CIs proceed in parallel; at most MaxInFlight are out or waiting. Acks are sent in batches
// (XACK of many ids, every AckInterval). The channel closes when ctx ends or the subscriber
// closes; what was not acked stays pending and comes back.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("subscribe: topic required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("subscribe to " + topic + ": subscriber closed")
	}
	if err := s.bus.live(); err != nil {
		return nil, err
	}
	client := s.bus.client
	if err := client.XGroupCreateMkStream(ctx, topic, s.group, "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("create group %s on %s: %w", s.group, topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &loop{
		s: s, topic: topic, client: client, cfg: s.bus.cfg,
		log:   s.bus.cfg.Logger.With(watermill.LogFields{"consumer_group": s.group, "topic": topic}),
		out:   make(chan *message.Message),
		lanes: map[string][]*entry{},
		room:  make(chan struct{}, 1),
		wake:  make(chan struct{}, 1),
		acks:  make(chan string, s.bus.cfg.ReadBatch),
	}
	s.bus.track(topic, s.group)
	s.running.Add(1)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		case <-s.bus.done:
		}
		cancel()
	}()
	go func() {
		defer s.running.Done()
		defer cancel()
		l.run(ctx)
	}()
	return l.out, nil
}

// Close ends the subscriber's subscriptions and waits for them. It is idempotent and leaves
// the bus open.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.running.Wait()
	s.bus.forget(s)
	return nil
}

// entry is one stream entry read and not acked yet.
type entry struct {
	id      string
	subject string
	msg     *message.Message
}

// loop is one subscription's state.
type loop struct {
	s      *subscriber
	topic  string
	client *redis.Client
	cfg    Config
	log    watermill.LoggerAdapter
	out    chan *message.Message

	mu      sync.Mutex
	lanes   map[string][]*entry // per subject, in stream order; the head may be out
	ready   []*entry            // lane heads not out
	holding int                 // entries read and not acked
	room    chan struct{}       // signalled when holding drops, for the reader
	wake    chan struct{}       // signalled when an entry becomes ready, for the deliverer
	acks    chan string         // ids acked, for the acker
}

func (l *loop) run(ctx context.Context) {
	delivered := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.ack(delivered) }()
	go func() { defer wg.Done(); l.read(ctx) }()
	l.deliver(ctx)
	close(delivered) // every ack of a delivered message is in l.acks now
	wg.Wait()
	close(l.out)
}

// read fills the lanes: own pending entries first, then new ones and claimed ones.
func (l *loop) read(ctx context.Context) {
	l.readOwnPending(ctx)
	nextClaim := time.Now().Add(l.cfg.ClaimInterval)
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		if !l.waitForRoom(ctx) {
			return
		}
		if time.Now().After(nextClaim) {
			l.claim(ctx)
			nextClaim = time.Now().Add(l.cfg.ClaimInterval)
		}
		res, err := l.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: l.s.group, Consumer: l.cfg.Consumer, Streams: []string{l.topic, ">"},
			Count: int64(l.room0()), Block: l.cfg.BlockTime,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream was deleted (or the server lost it): create the group again.
				_ = l.client.XGroupCreateMkStream(ctx, l.topic, l.s.group, "0").Err()
			}
			l.log.Error("Reading the stream failed", err, nil)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		for _, st := range res {
			l.add(st.Messages)
		}
	}
}

// readOwnPending reads back the entries the group delivered to this consumer and that were
// never acknowledged: what a crashed process was working on. Without it a restarted worker
// would wait MaxIdleTime for its own messages.
func (l *loop) readOwnPending(ctx context.Context) {
	for after := "0"; ctx.Err() == nil; {
		res, err := l.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: l.s.group, Consumer: l.cfg.Consumer, Streams: []string{l.topic, after}, Count: int64(l.cfg.ReadBatch),
		}).Result()
		if err != nil || len(res) == 0 || len(res[0].Messages) == 0 {
			if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
				// Not fatal: after MaxIdleTime they are claimed anyway.
				l.log.Error("Reading own pending entries failed", err, nil)
			}
			return
		}
		l.add(res[0].Messages)
		after = res[0].Messages[len(res[0].Messages)-1].ID
		if !l.waitForRoom(ctx) {
			return
		}
	}
}

// claim takes over the entries of other consumers of the group idle longer than MaxIdleTime.
func (l *loop) claim(ctx context.Context) {
	for start := "0-0"; ctx.Err() == nil; {
		msgs, next, err := l.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: l.topic, Group: l.s.group, Consumer: l.cfg.Consumer, MinIdle: l.cfg.MaxIdleTime,
			Start: start, Count: int64(l.cfg.ReadBatch),
		}).Result()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, redis.Nil) {
				l.log.Error("Claiming idle entries failed", err, nil)
			}
			return
		}
		l.add(l.notHeld(msgs))
		if next == "0-0" || len(msgs) == 0 {
			return
		}
		start = next
	}
}

// notHeld drops the claimed entries this loop already holds (its own, idle behind a lane).
func (l *loop) notHeld(msgs []redis.XMessage) []redis.XMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := map[string]bool{}
	for _, lane := range l.lanes {
		for _, e := range lane {
			held[e.id] = true
		}
	}
	out := msgs[:0]
	for _, m := range msgs {
		if !held[m.ID] {
			out = append(out, m)
		}
	}
	return out
}

// room0 is how many more entries may be read now.
func (l *loop) room0() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return min(l.cfg.ReadBatch, max(1, l.cfg.MaxInFlight-l.holding))
}

// waitForRoom waits until fewer than MaxInFlight entries are held; false when ctx ended.
func (l *loop) waitForRoom(ctx context.Context) bool {
	for {
		l.mu.Lock()
		full := l.holding >= l.cfg.MaxInFlight
		l.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-l.room:
		case <-ctx.Done():
			return false
		}
	}
}

// add decodes read entries into their lanes.
func (l *loop) add(msgs []redis.XMessage) {
	if len(msgs) == 0 {
		return
	}
	l.mu.Lock()
	for _, xm := range msgs {
		msg := DecodeEntry(xm.Values, l.cfg.MaxEntryBytes)
		e := &entry{id: xm.ID, subject: msg.Metadata.Get(event.MetaSubject), msg: msg}
		l.holding++
		lane := l.lanes[e.subject]
		l.lanes[e.subject] = append(lane, e)
		if len(lane) == 0 {
			l.ready = append(l.ready, e)
		}
	}
	l.mu.Unlock()
	notify(l.wake)
}

// notify signals ch without waiting: one pending signal is enough.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deliver hands ready entries out until ctx ends, watching each for its ack or nack.
func (l *loop) deliver(ctx context.Context) {
	var watching sync.WaitGroup
	defer watching.Wait()
	for {
		e := l.next(ctx)
		if e == nil {
			return
		}
		msg := e.msg.Copy()
		mctx, done := context.WithCancel(ctx)
		msg.SetContext(mctx)
		select {
		case l.out <- msg:
		case <-ctx.Done():
			done()
			return
		}
		watching.Add(1)
		go func() {
			defer watching.Done()
			defer done()
			select {
			case <-msg.Acked():
				l.acked(e)
			case <-msg.Nacked():
				l.nacked(ctx, e)
			case <-ctx.Done():
				select {
				case <-msg.Acked(): // an ack that raced the end still counts
					l.acked(e)
				default: // stays pending in Redis, and comes back
				}
			}
		}()
	}
}

// next returns the next ready entry, or nil once ctx ends.
func (l *loop) next(ctx context.Context) *entry {
	for {
		l.mu.Lock()
		if len(l.ready) > 0 {
			e := l.ready[0]
			l.ready = l.ready[1:]
			l.mu.Unlock()
			return e
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// acked retires an acked entry: its id goes to the acker, the next of its lane is ready.
func (l *loop) acked(e *entry) {
	select {
	case l.acks <- e.id:
	default:
		// The acker is behind: ack this one on its own rather than wait.
		if err := l.client.XAck(context.Background(), l.topic, l.s.group, e.id).Err(); err != nil {
			l.log.Error("Acknowledging an entry failed", err, nil)
		}
	}
	l.mu.Lock()
	lane := l.lanes[e.subject][1:]
	if len(lane) == 0 {
		delete(l.lanes, e.subject)
	} else {
		l.lanes[e.subject] = lane
		l.ready = append(l.ready, lane[0])
	}
	l.holding--
	l.mu.Unlock()
	notify(l.room)
	notify(l.wake)
}

// nacked makes a nacked entry ready again, at the head of its lane, after NackResendDelay.
func (l *loop) nacked(ctx context.Context, e *entry) {
	if d := l.cfg.NackResendDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	l.mu.Lock()
	l.ready = append([]*entry{e}, l.ready...)
	l.mu.Unlock()
	notify(l.wake)
}

// ack sends the acked ids in batches: every AckInterval, or once ReadBatch are waiting, and
// what is left once delivery ended (delivered closes).
func (l *loop) ack(delivered <-chan struct{}) {
	tick := time.NewTicker(l.cfg.AckInterval)
	defer tick.Stop()
	var ids []string
	flush := func() {
		if len(ids) == 0 {
			return
		}
		// Acks must land even as the subscription ends: an un-acked entry comes back.
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.client.XAck(actx, l.topic, l.s.group, ids...).Err(); err != nil {
			l.log.Error("Acknowledging entries failed", err, watermill.LogFields{"count": len(ids)})
		}
		ids = ids[:0]
	}
	for {
		select {
		case id := <-l.acks:
			ids = append(ids, id)
			if len(ids) >= l.cfg.ReadBatch {
				flush()
			}
		case <-tick.C:
			flush()
		case <-delivered:
			for {
				select {
				case id := <-l.acks:
					ids = append(ids, id)
				default:
					flush()
					return
				}
			}
		}
	}
}
