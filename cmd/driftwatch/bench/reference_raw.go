package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Batching of the raw chain.
const (
	// rawBatch is the COUNT of every XREADGROUP and the most XADDs the load pipelines at once.
	rawBatch = 100
	// rawBlock is the BLOCK of every XREADGROUP: how long a hop may take to notice shutdown.
	rawBlock = 100 * time.Millisecond
	// rawRetryPause spaces the retries of a hop whose Redis call failed.
	rawRetryPause = 50 * time.Millisecond
)

// Stream entry fields of the raw chain.
const (
	fieldSeq     = "seq"
	fieldSentAt  = "sent_at"
	fieldPayload = "payload"
)

// RawChain is the second reference line: the same hops as StockChain written directly with
// go-redis, batched and pipelined (see the file comment of reference.go). It is safe for
// concurrent use, but concurrent trials share the machine and distort each other.
type RawChain struct {
	c *chain
}

// NewRawChain returns a raw chain over the Redis server at cfg.Addr. Nothing runs until
// Trial.
func NewRawChain(cfg ChainConfig, log *zap.Logger) (*RawChain, error) {
	c, err := newChain("raw", cfg, log)
	if err != nil {
		return nil, err
	}
	return &RawChain{c: c}, nil
}

// Trial runs load through a fresh chain (new streams and groups, new hop goroutines) and
// reports the end-to-end figures; it stops the hops and deletes the streams before it
// returns. It fits FindMax as a TrialFunc.
func (rc *RawChain) Trial(ctx context.Context, load Load) (Trial, error) {
	return rc.c.trial(ctx, load, rc.start)
}

// start creates the groups, starts the hops, the final consumer and the load's batcher.
func (rc *RawChain) start(ctx context.Context, r *run) (system, error) {
	cfg := rc.c.cfg
	// One pool for the whole chain: every hop holds a connection in XREADGROUP BLOCK.
	client := redis.NewClient(&redis.Options{Addr: cfg.Addr, PoolSize: max(20, cfg.Hops+8)})
	for i, stream := range r.streams {
		if err := client.XGroupCreateMkStream(ctx, stream, r.groups[i], "0").Err(); err != nil {
			return system{}, errors.Join(fmt.Errorf("create group %s: %w", r.groups[i], err), client.Close())
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Hops+2) // first failure of each hop, the sink and the batcher
	for i := 1; i <= cfg.Hops; i++ {
		h := rawHop{client: client, in: r.streams[i-1], group: r.groups[i-1], consumer: cfg.Consumer, out: r.streams[i], work: cfg.Work, log: rc.c.log}
		wg.Go(func() { errs[i-1] = h.run(ctx, h.forward) })
	}
	last := rawHop{client: client, in: r.streams[cfg.Hops], group: r.groups[cfg.Hops], consumer: cfg.Consumer, log: rc.c.log}
	wg.Go(func() { errs[cfg.Hops] = last.run(ctx, last.deliver(r.sink)) })
	b := &rawBatcher{client: client, stream: r.streams[0], payload: rc.c.payload, in: make(chan *rawSend, 4*rawBatch)}
	wg.Go(func() { errs[cfg.Hops+1] = b.run(ctx) })
	stop := func() error {
		cancel()
		wg.Wait()
		return errors.Join(append(errs, client.Close())...)
	}
	return system{send: b.send, stop: stop}, nil
}

// rawHop is one consumer of the raw chain: a hop when out is set, else the final consumer.
type rawHop struct {
	client              *redis.Client
	in, group, consumer string
	out                 string
	work                Work
	log                 *zap.Logger
}

// run reads batches until ctx ends and gives each to handle, which queues its commands on
// pipe; the batch's XACK follows them in the same pipeline. A failed call is retried after a
// pause (the entries stay pending and are read again by XREADGROUP 0 first); run returns
// the first failure, logged once, when ctx ends.
func (h rawHop) run(ctx context.Context, handle func(ctx context.Context, pipe redis.Pipeliner, msgs []redis.XMessage) error) error {
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
			h.log.Info("Reference hop failed", zap.String("stage", h.group), zap.Error(err))
		}
	}
	ids := make([]string, 0, rawBatch)
	pendingFirst := false
	for ctx.Err() == nil {
		start := ">"
		if pendingFirst {
			start = "0" // this consumer's own pending entries, after a failed batch
		}
		res, err := h.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: h.group, Consumer: h.consumer, Streams: []string{h.in, start}, Count: rawBatch, Block: rawBlock,
		}).Result()
		if errors.Is(err, redis.Nil) || (err == nil && (len(res) == 0 || len(res[0].Messages) == 0)) {
			pendingFirst = false
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				fail(fmt.Errorf("read %s: %w", h.in, err))
				sleepCtx(ctx, rawRetryPause)
			}
			continue
		}
		msgs := res[0].Messages
		pipe := h.client.Pipeline()
		if err := handle(ctx, pipe, msgs); err != nil {
			fail(err)
		}
		ids = ids[:0]
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		pipe.XAck(ctx, h.in, h.group, ids...)
		if _, err := pipe.Exec(ctx); err != nil {
			if ctx.Err() == nil {
				fail(fmt.Errorf("write batch of %s: %w", h.in, err))
				pendingFirst = true
				sleepCtx(ctx, rawRetryPause)
			}
		}
	}
	return first
}

// forward queues one XADD to the next stream per message, its payload worked.
func (h rawHop) forward(ctx context.Context, pipe redis.Pipeliner, msgs []redis.XMessage) error {
	var errs []error
	for _, m := range msgs {
		payload, _ := m.Values[fieldPayload].(string)
		out, err := h.work.apply([]byte(payload))
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %s: %w", m.ID, err))
			continue
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: h.out, Values: []any{
			fieldSeq, m.Values[fieldSeq], fieldSentAt, m.Values[fieldSentAt], fieldPayload, out,
		}})
	}
	return errors.Join(errs...)
}

// deliver returns the final consumer's handler: it records every message at s.
func (h rawHop) deliver(s *sink) func(context.Context, redis.Pipeliner, []redis.XMessage) error {
	return func(_ context.Context, _ redis.Pipeliner, msgs []redis.XMessage) error {
		now := time.Now()
		var errs []error
		for _, m := range msgs {
			seqText, _ := m.Values[fieldSeq].(string)
			sentText, _ := m.Values[fieldSentAt].(string)
			seq, err1 := strconv.ParseUint(seqText, 10, 64)
			sentAt, err2 := strconv.ParseInt(sentText, 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				errs = append(errs, fmt.Errorf("entry %s: %w", m.ID, err))
				continue
			}
			s.deliver(seq, sentAt, now)
		}
		return errors.Join(errs...)
	}
}

// rawSend is one load send waiting for its pipeline.
type rawSend struct {
	seq    uint64
	sentAt int64
	done   chan error
}

// rawBatcher pipelines the load's XADDs: it takes whatever sends are waiting, up to
// rawBatch, and runs them as one pipeline.
type rawBatcher struct {
	client  *redis.Client
	stream  string
	payload []byte
	in      chan *rawSend
}

// send hands one item to the batcher and waits for its XADD.
func (b *rawBatcher) send(ctx context.Context, seq uint64) error {
	s := &rawSend{seq: seq, sentAt: ScheduledAt(ctx).UnixNano(), done: make(chan error, 1)}
	select {
	case b.in <- s:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run pipelines sends until ctx ends; it returns the first pipeline failure.
func (b *rawBatcher) run(ctx context.Context) error {
	var first error
	batch := make([]*rawSend, 0, rawBatch)
	cmds := make([]*redis.StringCmd, 0, rawBatch)
	for {
		batch, cmds = batch[:0], cmds[:0]
		select {
		case <-ctx.Done():
			return first
		case s := <-b.in:
			batch = append(batch, s)
		}
	gather:
		for len(batch) < rawBatch {
			select {
			case s := <-b.in:
				batch = append(batch, s)
			default:
				break gather
			}
		}
		pipe := b.client.Pipeline()
		for _, s := range batch {
			cmds = append(cmds, pipe.XAdd(ctx, &redis.XAddArgs{Stream: b.stream, Values: []any{
				fieldSeq, strconv.FormatUint(s.seq, 10), fieldSentAt, strconv.FormatInt(s.sentAt, 10), fieldPayload, b.payload,
			}}))
		}
		_, err := pipe.Exec(ctx)
		if err != nil && first == nil && ctx.Err() == nil {
			first = fmt.Errorf("pipeline %d XADDs to %s: %w", len(batch), b.stream, err)
		}
		for i, s := range batch {
			s.done <- cmds[i].Err()
		}
	}
}

// sleepCtx pauses for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
