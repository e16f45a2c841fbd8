package redisbus

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
)

// maxPipeline bounds how many XADDs one pipeline carries.
const maxPipeline = 512

// publisher pipelines the XADDs of concurrent Publish calls: one goroutine gathers what is
// queued (up to maxPipeline entries) and sends it in one round trip, as the event store's
// committer gathers appends.
type publisher struct {
	b    *Bus
	reqs chan *publishReq
	once sync.Once
	done chan struct{}
}

// publishReq is one Publish call waiting for the pipeline.
type publishReq struct {
	topic   string
	entries []Entry
	reply   chan error // buffered
}

func newPublisher(b *Bus) *publisher {
	p := &publisher{b: b, reqs: make(chan *publishReq, maxPipeline), done: make(chan struct{})}
	go p.loop()
	return p
}

// Publish appends each message to the topic's stream (XADD), in order, and returns once
// Redis has them. A message without a UUID, or whose entry would exceed MaxEntryBytes, is
// refused before anything is sent.
func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.b.live(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	req := &publishReq{topic: topic, entries: make([]Entry, len(msgs)), reply: make(chan error, 1)}
	for i, msg := range msgs {
		e, err := EncodeEntry(msg)
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		if max := p.b.cfg.MaxEntryBytes; max > 0 && e.Size() > max {
			return fmt.Errorf("publish %s to %s: entry is %d bytes, over the %d-byte limit", msg.UUID, topic, e.Size(), max)
		}
		req.entries[i] = e
	}
	p.b.track(topic, "")
	select {
	case p.reqs <- req:
	case <-p.b.done:
		return ErrClosed
	}
	select {
	case err := <-req.reply:
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	case <-p.done:
		return ErrClosed
	}
}

// Close does nothing: the publisher belongs to the bus.
func (*publisher) Close() error { return nil }

func (p *publisher) stop() { p.once.Do(func() { close(p.done) }) }

// loop sends what is queued, one pipeline at a time, until the bus closes.
func (p *publisher) loop() {
	var batch []*publishReq
	for {
		select {
		case req := <-p.reqs:
			batch = append(batch[:0], req)
			n := len(req.entries)
		gather:
			for n < maxPipeline {
				select {
				case r := <-p.reqs:
					batch = append(batch, r)
					n += len(r.entries)
				default:
					break gather
				}
			}
			p.send(batch)
			clear(batch)
		case <-p.done:
			return
		}
	}
}

// send runs one pipeline and answers each request: with the first error among its own
// entries, if any.
func (p *publisher) send(batch []*publishReq) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	pipe := p.b.client.Pipeline()
	cmds := make([][]*redis.StringCmd, len(batch))
	for i, req := range batch {
		for _, e := range req.entries {
			cmds[i] = append(cmds[i], pipe.XAdd(ctx, &redis.XAddArgs{Stream: req.topic, Values: e.Values()}))
		}
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, req := range batch {
		var err error
		for _, c := range cmds[i] {
			if err = c.Err(); err != nil {
				break
			}
		}
		req.reply <- err
	}
}
