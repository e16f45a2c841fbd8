package redisbus

import (
	"context"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
)

// pendingBatch is how many of its own pending entries a consumer reads back at once.
const pendingBatch = 100

// ownPending reads the entries of topic that the group delivered to this consumer and that
// were never acknowledged: what a crashed process was working on. The stock subscriber only
// reads new entries and claims others' idle ones after MaxIdleTime, so without this a
// restarted worker would wait that long for its own messages.
func (s *subscriber) ownPending(ctx context.Context, topic string) ([]redis.XMessage, error) {
	// A new group reads the stream from the start, as the stock subscriber creates it.
	if err := s.client.XGroupCreateMkStream(ctx, topic, s.group, "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("create group %s on %s: %w", s.group, topic, err)
	}
	var out []redis.XMessage
	for after := "0"; ; {
		res, err := s.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.group, Consumer: s.bus.cfg.Consumer, Streams: []string{topic, after}, Count: pendingBatch,
		}).Result()
		if err == redis.Nil {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read own pending entries of %s: %w", topic, err)
		}
		if len(res) == 0 || len(res[0].Messages) == 0 {
			return out, nil
		}
		out = append(out, res[0].Messages...)
		after = res[0].Messages[len(res[0].Messages)-1].ID
	}
}

// redeliver hands out one pending entry until it is acked, resending it when nacked. It
// returns false when ctx ends first.
func (s *subscriber) redeliver(ctx context.Context, topic string, xm redis.XMessage, out chan<- *message.Message) bool {
	msg := DecodeEntry(xm.Values, s.bus.cfg.MaxEntryBytes)
	for {
		msg.SetContext(ctx)
		select {
		case out <- msg:
		case <-ctx.Done():
			return false
		}
		select {
		case <-msg.Acked():
			if err := s.client.XAck(ctx, topic, s.group, xm.ID).Err(); err != nil && ctx.Err() == nil {
				// The entry stays pending and comes back once more: at least once.
				s.bus.cfg.Logger.Error("Acknowledging a redelivered entry failed", err, nil)
			}
			return true
		case <-msg.Nacked():
			msg = msg.Copy()
		case <-ctx.Done():
			return false
		}
	}
}

// withOwnPending delivers this consumer's pending entries first, then everything the stock
// subscription delivers.
func (s *subscriber) withOwnPending(ctx context.Context, topic string, pending []redis.XMessage, inner <-chan *message.Message) <-chan *message.Message {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for _, xm := range pending {
			if !s.redeliver(ctx, topic, xm, out) {
				return
			}
		}
		for msg := range inner {
			select {
			case out <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
