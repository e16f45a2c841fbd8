package redisbus

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/pipeline/bus"
)

// publicPrefix starts the public streams (drift.detected...): services outside driftwatch
// subscribe to them, possibly later, so their entries are kept PublicRetention long.
const publicPrefix = "drift."

// trimLoop trims the streams this process reads or writes every TrimInterval until Close.
func (b *Bus) trimLoop() {
	defer b.wg.Done()
	tick := time.NewTicker(b.cfg.TrimInterval)
	defer tick.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-tick.C:
			b.mu.Lock()
			topics := make([]string, 0, len(b.streams))
			for t := range b.streams {
				topics = append(topics, t)
			}
			b.mu.Unlock()
			for _, t := range topics {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := b.Trim(ctx, t); err != nil {
					b.cfg.Logger.Error("Trimming a stream failed", err, watermill.LogFields{"topic": t})
				}
				cancel()
			}
		}
	}
}

// Trim removes from topic's stream the entries every consumer group has acknowledged (for a
// public drift.* stream, only those older than PublicRetention too), never one a group has
// not read or not acknowledged, and returns how many it removed. A group with more than
// MaxLag entries waiting is raised as lagging: logged at Warn when it starts and when it
// stops lagging, and reported by Lagging meanwhile; it is never trimmed past.
func (b *Bus) Trim(ctx context.Context, topic string) (int64, error) {
	groups, err := b.client.XInfoGroups(ctx, topic).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return 0, nil
		}
		return 0, fmt.Errorf("groups of %s: %w", topic, err)
	}
	public := strings.HasPrefix(topic, publicPrefix)
	minID := ""
	if public || len(groups) == 0 {
		minID = fmt.Sprintf("%d-0", time.Now().Add(-b.cfg.PublicRetention).UnixMilli())
		if !public && len(groups) == 0 {
			// A stream no group reads yet: keep it for the group that will.
			return 0, nil
		}
	}
	for _, g := range groups {
		b.noteLag(topic, g)
		keep := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := b.client.XPending(ctx, topic, g.Name).Result()
			if err != nil {
				return 0, fmt.Errorf("pending of %s in %s: %w", g.Name, topic, err)
			}
			keep = p.Lower
		}
		if minID == "" || lessID(keep, minID) {
			minID = keep
		}
	}
	if minID == "" || minID == "0-0" {
		return 0, nil
	}
	n, err := b.client.XTrimMinID(ctx, topic, minID).Result()
	if err != nil {
		return 0, fmt.Errorf("trim %s to %s: %w", topic, minID, err)
	}
	return n, nil
}

// noteLag raises or clears a group's lag alarm.
func (b *Bus) noteLag(topic string, g redis.XInfoGroup) {
	waiting := g.Pending
	if g.Lag > 0 {
		waiting += g.Lag
	}
	key := topic + " " + g.Name
	b.mu.Lock()
	was := b.lagging[key]
	now := waiting > b.cfg.MaxLag
	if now {
		b.lagging[key] = true
	} else {
		delete(b.lagging, key)
	}
	b.mu.Unlock()
	fields := watermill.LogFields{"topic": topic, "consumer_group": g.Name, "waiting": waiting, "max_lag": b.cfg.MaxLag}
	switch {
	case now && !was:
		warn(b.cfg.Logger, "Consumer group is lagging; its entries are kept", fields)
	case was && !now:
		warn(b.cfg.Logger, "Consumer group caught up", fields)
	}
}

// warn logs at Warn when the logger can (the router's zap adapter), else at Info.
func warn(l watermill.LoggerAdapter, msg string, fields watermill.LogFields) {
	if w, ok := l.(interface {
		Warn(string, watermill.LogFields)
	}); ok {
		w.Warn(msg, fields)
		return
	}
	l.Info(msg, fields)
}

// Lagging lists the consumer groups ("topic group") raised as lagging at the last trim.
func (b *Bus) Lagging() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.lagging))
	for k := range b.lagging {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lessID reports whether stream id a is before b.
func lessID(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am < bm || (am == bm && as < bs)
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

// Lags reports, for every stream this process reads or writes, each group's waiting entries
// (not yet delivered, and delivered but not acknowledged).
func (b *Bus) Lags(ctx context.Context) ([]bus.GroupLag, error) {
	b.mu.Lock()
	topics := make([]string, 0, len(b.streams))
	for t := range b.streams {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	sort.Strings(topics)
	var out []bus.GroupLag
	for _, t := range topics {
		groups, err := b.client.XInfoGroups(ctx, t).Result()
		if err != nil {
			if strings.Contains(err.Error(), "no such key") {
				continue
			}
			return out, fmt.Errorf("groups of %s: %w", t, err)
		}
		for _, g := range groups {
			out = append(out, bus.GroupLag{Topic: t, Group: g.Name, Waiting: max(g.Lag, 0) + g.Pending})
		}
	}
	return out, nil
}
