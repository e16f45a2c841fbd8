package streams

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Group is the consumer group driftwatch reads the input streams with.
const Group = "streams-source"

// Emitter takes what the consumer makes of entries: observation submissions (event.Record
// with an ObservationSubmitted_v1, admitted by ingest at once, as POST /observations admits
// them) and poison records; it returns once they are durable.
type Emitter interface {
	Emit(ctx context.Context, recs ...event.Record) error
}

// Config configures a Consumer.
type Config struct {
	// Consumer is this process's consumer name in the group; required.
	Consumer string
	// Facts reads ansible.facts_collected documents (with its compliance rules).
	Facts ansible.Reader
	// Block bounds one read; default 1s.
	Block time.Duration
}

// Consumer reads the input streams in consumer group Group (created at the start of each
// stream, so entries written before driftwatch first ran are read too), at least once:
// an entry is acknowledged after what it became is durable; a restarted consumer reads its
// own pending entries first. Observation ids derive from the stream and entry id, so a
// redelivered entry is a duplicate ingest drops.
type Consumer struct {
	cfg  Config
	rdb  *redis.Client
	emit Emitter
	log  *zap.Logger
	now  func() time.Time
}

// NewConsumer returns a Consumer reading rdb.
func NewConsumer(cfg Config, rdb *redis.Client, emit Emitter, log *zap.Logger) (*Consumer, error) {
	var errs []error
	if cfg.Consumer == "" {
		errs = append(errs, errors.New("consumer: required"))
	}
	if rdb == nil || emit == nil || log == nil {
		errs = append(errs, errors.New("redis client, emitter and logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new streams consumer: %w", err)
	}
	if cfg.Block == 0 {
		cfg.Block = time.Second
	}
	return &Consumer{cfg: cfg, rdb: rdb, emit: emit, log: log, now: time.Now}, nil
}

// Run consumes until ctx ends (it returns nil then). Redis being unreachable is logged and
// retried.
func (c *Consumer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := c.groups(ctx); err != nil {
			c.wait(ctx, "create consumer groups", err)
			continue
		}
		break
	}
	pending := true // first our own entries delivered before a restart, then new ones
	for ctx.Err() == nil {
		from := ">"
		if pending {
			from = "0"
		}
		args := &redis.XReadGroupArgs{Group: Group, Consumer: c.cfg.Consumer, Count: 100, Block: c.cfg.Block,
			Streams: append(append([]string{}, Streams...), repeat(from, len(Streams))...)}
		if pending {
			args.Block = -1 // do not wait for pending entries
		}
		res, err := c.rdb.XReadGroup(ctx, args).Result()
		if errors.Is(err, redis.Nil) {
			pending = false
			continue
		}
		if err != nil {
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				_ = c.groups(ctx)
			}
			c.wait(ctx, "read input streams", err)
			continue
		}
		n := 0
		for _, s := range res {
			n += len(s.Messages)
			if err := c.handle(ctx, s.Stream, s.Messages); err != nil {
				c.wait(ctx, "handle "+s.Stream, err)
			}
		}
		if pending && n == 0 {
			pending = false
		}
	}
	return nil
}

// groups creates the consumer group on every stream, from its start.
func (c *Consumer) groups(ctx context.Context) error {
	for _, s := range Streams {
		err := c.rdb.XGroupCreateMkStream(ctx, s, Group, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create group %s on %s: %w", Group, s, err)
		}
	}
	return nil
}

// handle turns a batch of entries into records, emits them and acknowledges the entries.
func (c *Consumer) handle(ctx context.Context, stream string, msgs []redis.XMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	now := c.now()
	recs := make([]event.Record, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		o, err := Translate(stream, m.ID, m.Values, now, c.cfg.Facts)
		if err != nil {
			c.log.Warn("Input stream entry parked in poison stream", zap.String("stream", stream), zap.String("entry", m.ID), zap.Error(err))
			recs = append(recs, event.Record{ID: event.DeriveID("poison", Group, stream, m.ID), Subject: stream, Time: now,
				Fact: event.Poison_v1{Reason: err.Error(), Handler: Group, Topic: stream, ID: m.ID}})
			continue
		}
		recs = append(recs, event.Record{ID: event.DeriveID("stream-submitted", stream, m.ID), Subject: o.CIID, Time: now, Fact: o})
	}
	if err := c.emit.Emit(ctx, recs...); err != nil {
		if fault.IsPermanent(err) {
			// A bad observation the door refuses (an id too long, a state too large): park it.
			c.log.Warn("Input stream batch refused", zap.String("stream", stream), zap.Error(err))
			return c.parkOneByOne(ctx, stream, msgs, recs)
		}
		return err // not acknowledged: redelivered
	}
	return c.rdb.XAck(ctx, stream, Group, ids...).Err()
}

// parkOneByOne emits a batch entry by entry, parking those the door refuses.
func (c *Consumer) parkOneByOne(ctx context.Context, stream string, msgs []redis.XMessage, recs []event.Record) error {
	for i, r := range recs {
		err := c.emit.Emit(ctx, r)
		if fault.IsPermanent(err) {
			err = c.emit.Emit(ctx, event.Record{ID: event.DeriveID("poison", Group, stream, msgs[i].ID), Subject: stream, Time: r.Time,
				Fact: event.Poison_v1{Reason: err.Error(), Handler: Group, Topic: stream, ID: msgs[i].ID}})
		}
		if err != nil {
			return err
		}
		if err := c.rdb.XAck(ctx, stream, Group, msgs[i].ID).Err(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Consumer) wait(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.log.Warn("Input streams: "+what+" failed; retrying", zap.Error(err))
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
