package embedded

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// topicStreamPrefix starts the stream of messages published on a topic that are not
// registered facts of that topic.
const topicStreamPrefix = "topic-"

// onTopic says whether an event in the store, by its stream and type, was published on topic.
func onTopic(topic, stream, typ string) bool {
	if t, ok := strings.CutPrefix(stream, topicStreamPrefix); ok {
		return t == topic
	}
	return event.TopicOf(typ) == topic
}

// group is one consumer group's delivery of one topic, shared by its subscriptions in the
// bus: a reader of the store's feed, the messages read and not yet acked, in position order,
// and their lanes by subject.
type group struct {
	bus   *Bus
	name  string
	topic string

	mu      sync.Mutex
	changed chan struct{}           // closed and replaced on every change waiters care about
	pending []*item                 // read, not acked; ascending position
	lanes   map[string][]*item      // per subject: its pending items in order; the head may be out
	ready   []*item                 // lane heads not out, in the order they became ready
	seen    eventstore.Position     // the feed is read up to here
	sub     eventstore.Subscription // the current subscription, for its read position
	mark    eventstore.Position     // checkpoint: every message of the topic up to it is acked
	persist eventstore.Position     // checkpoint last persisted
}

// item is one message of the topic read from the store.
type item struct {
	pos     eventstore.Position
	subject string
	msg     *message.Message
	acked   bool
}

func newGroup(b *Bus, name, topic string, from eventstore.Position) *group {
	return &group{bus: b, name: name, topic: topic, changed: make(chan struct{}), lanes: map[string][]*item{}, seen: from, mark: from, persist: from}
}

// readPos is how far the group's reader has looked into the store (delivered or filtered
// out), when its subscription says. Caller holds g.mu.
func (g *group) readPos() eventstore.Position {
	if r, ok := g.sub.(interface{ Read() eventstore.Position }); ok {
		return r.Read()
	}
	return 0
}

// notify wakes the waiters. Caller holds g.mu.
func (g *group) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// read follows the store from the checkpoint until ctx ends, keeping the topic's messages.
func (g *group) read(ctx context.Context) {
	for backoff := 10 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, time.Second) {
		g.mu.Lock()
		from := g.seen
		g.mu.Unlock()
		// The store skips the other topics' events where it reads them.
		sub, err := eventstore.SubscribeFiltered(ctx, g.bus.cfg.Store, from, func(stream, typ string) bool {
			return onTopic(g.topic, stream, typ)
		})
		if err != nil {
			g.bus.log.Error("Following the event store failed", err, watermill.LogFields{"consumer_group": g.name, "topic": g.topic})
		} else {
			g.mu.Lock()
			g.sub = sub
			g.mu.Unlock()
			g.follow(ctx, sub)
			if err := sub.Err(); err != nil && ctx.Err() == nil {
				g.bus.log.Error("Event store feed ended", err, watermill.LogFields{"consumer_group": g.name, "topic": g.topic})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// follow keeps the events of one subscription to the topic, waiting for room when MaxInFlight
// messages are pending.
func (g *group) follow(ctx context.Context, sub eventstore.Subscription) {
	for rec := range sub.Events() {
		it := decode(rec)
		g.mu.Lock()
		for len(g.pending) >= g.bus.cfg.MaxInFlight {
			ch := g.changed
			g.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
			g.mu.Lock()
		}
		g.seen = rec.Position
		g.pending = append(g.pending, it)
		lane := g.lanes[it.subject]
		g.lanes[it.subject] = append(lane, it)
		if len(lane) == 0 {
			g.ready = append(g.ready, it)
		}
		g.notify()
		g.mu.Unlock()
	}
}

// decode turns a stored event into its message, with the metadata it was published with and
// the position it is at. An event that cannot be decoded comes back flagged with
// bus.MetaMalformed, for the poison queue.
func decode(rec eventstore.Recorded) *item {
	it := &item{pos: rec.Position}
	env, err := event.ParseEnvelope(rec.Data)
	var msg *message.Message
	if err == nil {
		var extra map[string]string
		if env.Metadata != "" {
			err = json.Unmarshal([]byte(env.Metadata), &extra)
		}
		if err == nil {
			env.Metadata = ""
			msg, err = env.MessageWith(extra)
		}
	}
	if err != nil {
		msg = message.NewMessage(rec.ID, message.Payload(rec.Data))
		msg.Metadata.Set(bus.MetaMalformed, "stored event "+rec.ID+": "+err.Error())
	}
	event.SetPosition(msg, rec.Position)
	it.subject, it.msg = env.Subject, msg
	return it
}

// take hands out the next ready message, or nil once ctx ends.
func (g *group) take(ctx context.Context) *item {
	for {
		g.mu.Lock()
		if len(g.ready) > 0 {
			it := g.ready[0]
			g.ready = g.ready[1:]
			g.mu.Unlock()
			return it
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// giveBack makes a message that went out and was neither acked nor nacked ready again, at
// the head of its lane.
func (g *group) giveBack(it *item) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ready = append([]*item{it}, g.ready...)
	g.notify()
}

// nack makes a nacked message ready again after the nack delay.
func (g *group) nack(ctx context.Context, it *item) {
	if d := g.bus.cfg.NackDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	g.giveBack(it)
}

// ack retires an acked message: the next one of its lane becomes ready, and the checkpoint
// moves over every acked message at the front.
func (g *group) ack(it *item) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if it.acked {
		return
	}
	it.acked = true
	lane := g.lanes[it.subject][1:]
	if len(lane) == 0 {
		delete(g.lanes, it.subject)
	} else {
		g.lanes[it.subject] = lane
		g.ready = append(g.ready, lane[0])
	}
	n := 0
	for n < len(g.pending) && g.pending[n].acked {
		n++
	}
	if n > 0 {
		clear(g.pending[:n])
		g.pending = g.pending[n:]
	}
	if len(g.pending) == 0 {
		g.mark = g.seen
	} else {
		g.mark = g.pending[0].pos - 1
	}
	g.notify()
}

// checkpoint returns the position to persist and whether it moved since it was persisted.
func (g *group) checkpoint() (eventstore.Position, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mark, g.mark != g.persist
}

// saved records that pos was persisted.
func (g *group) saved(pos eventstore.Position) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.persist = pos
}
