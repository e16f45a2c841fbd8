/*
Reference lines of `driftwatch bench`.

Every driftwatch figure is reported beside two reference chains measured in the same run, on
the same box, against the same private redis-server (StartRedis: no persistence, loopback
only). The load generator, redis-server and the system under test share the machine's
cores; that is the point: the figures say what one box does.

Both chains have the same shape. The load appends each message to stream 0. Hop i (1..5)
reads stream i-1 in its own consumer group, handles the message and appends one output
message to stream i. A final consumer, in its own group, reads stream 5, records the
message's end-to-end latency and counts it. So each message costs six stream appends, six
group reads and six acknowledgements. Every trial uses fresh stream and group names and
deletes its streams afterwards.

The message payload is the same realistic JSON observation of a host for every message:
40 top-level fields, ten of them nested objects and arrays (labels, interfaces, mounts,
packages, services, sysctls...), 4 129 bytes by default (ChainConfig.PayloadBytes). With
WorkForward (the default) a hop passes the payload through untouched; with WorkDecode it
decodes the JSON into a generic value and encodes it again, a stand-in for a handler that
reads its input. Nothing trims the streams (the stock publisher's default), so
redis-server's memory grows by about 25 KB per message during a trial. The item's sequence number and its scheduled send time (ScheduledAt, unix
nanoseconds) travel with it, in watermill metadata or as stream entry fields; latency is
measured at the final consumer from the scheduled time, so a load generator or system that
falls behind is charged for it.

  - StockChain is the stock way: one watermill Router with five router.AddHandler handlers,
    each with its own watermill-redisstream Subscriber (consumer group per hop, default
    marshaller, default settings: one entry per XREADGROUP, one XACK per message) and
    Publisher (one XADD per message), plus an AddNoPublisherHandler for the final consumer.
    The load publishes with a stock redisstream Publisher, one XADD per message, sends
    running concurrently on the client's pool. The only non-default subscriber settings are
    DisableIndefiniteInitialBlock (so that a trial can shut down promptly) and stopping
    reads on a closed client at shutdown.
  - RawChain is the same five hops written directly with go-redis: each hop runs
    XREADGROUP COUNT 100 BLOCK 100ms, handles the batch, and sends the batch's XADDs and one
    XACK of the whole batch in a single pipeline. The final consumer reads the same way and
    acknowledges each batch with one XACK. The load pipelines its XADDs: concurrent sends are
    gathered (up to 100) into one pipeline.

Each chain's Trial runs one open-loop load (Drive) at a given rate and reports it as a
Trial; FindMax searches for the highest rate a chain keeps up with, by the Criterion
documented there. CPU time and peak RSS are sampled from /proc for ChainConfig.Procs (by
default the bench process alone; add redis-server's Redis.Proc) over the measured window,
and reported per completed message.
*/

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Work is what a reference hop does with each message's payload.
type Work string

// Kinds of Work.
const (
	// WorkForward passes the payload through untouched: the chain measures transport alone.
	WorkForward Work = "forward"
	// WorkDecode decodes the JSON payload into a generic value and encodes it again.
	WorkDecode Work = "decode"
)

// Valid reports whether w is a known kind of work.
func (w Work) Valid() bool { return w == WorkForward || w == WorkDecode }

// Defaults of ChainConfig.
const (
	// DefaultHops is the number of handlers between the load and the final consumer.
	DefaultHops = 5
	// DefaultPayloadBytes is the approximate size of each message's JSON payload.
	DefaultPayloadBytes = 4096
	// DefaultPrefix starts the name of every stream and consumer group.
	DefaultPrefix = "bench"
)

// ChainConfig configures a reference chain.
type ChainConfig struct {
	// Addr is the Redis server's host:port. Required.
	Addr string
	// Hops is the number of handlers between the load and the final consumer.
	// Default: DefaultHops (5).
	Hops int
	// PayloadBytes is the approximate size of each message's JSON payload.
	// Default: DefaultPayloadBytes (4096).
	PayloadBytes int
	// Work is what each hop does with a message. Default: WorkForward.
	Work Work
	// Procs are the processes whose CPU time and RSS each trial reports.
	// Default: Self() alone.
	Procs []Proc
	// Prefix starts the name of every stream and consumer group. Default: DefaultPrefix.
	Prefix string
	// Consumer is the consumer name in every group. Default: the host name plus "-bench".
	Consumer string
}

func (c *ChainConfig) setDefaults() {
	if c.Hops == 0 {
		c.Hops = DefaultHops
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = DefaultPayloadBytes
	}
	if c.Work == "" {
		c.Work = WorkForward
	}
	if c.Procs == nil {
		c.Procs = []Proc{Self()}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Consumer == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		c.Consumer = host + "-bench"
	}
}

// Validate reports every problem of the configuration at once.
func (c ChainConfig) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("redis address is required"))
	}
	if c.Hops < 1 {
		errs = append(errs, fmt.Errorf("hops must be at least 1, got %d", c.Hops))
	}
	if c.PayloadBytes < 0 {
		errs = append(errs, fmt.Errorf("payload bytes must not be negative, got %d", c.PayloadBytes))
	}
	if !c.Work.Valid() {
		errs = append(errs, fmt.Errorf("unknown work %q (want %q or %q)", c.Work, WorkForward, WorkDecode))
	}
	return errors.Join(errs...)
}

// chain is what both reference chains share: configuration, payload and trial bookkeeping.
type chain struct {
	kind    string
	cfg     ChainConfig
	log     *zap.Logger
	payload []byte
	trials  atomic.Uint64
}

// newChain checks cfg and builds the shared part of a chain named kind.
func newChain(kind string, cfg ChainConfig, log *zap.Logger) (*chain, error) {
	if log == nil {
		return nil, fmt.Errorf("new %s chain: logger is required", kind)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new %s chain: %w", kind, err)
	}
	return &chain{kind: kind, cfg: cfg, log: log, payload: ReferencePayload(cfg.PayloadBytes)}, nil
}

// run is one trial's streams, groups and final consumer.
type run struct {
	// streams[0] receives the load; hop i reads streams[i-1] and writes streams[i]; the final
	// consumer reads streams[len-1].
	streams []string
	// groups[i] is the consumer group that reads streams[i].
	groups []string
	sink   *sink
}

// newRun names a trial's streams and groups afresh: prefix:kind:runid:s<i>.
func (c *chain) newRun(load Load) *run {
	id := fmt.Sprintf("%s-%d", strings.Split(uuid.NewString(), "-")[0], c.trials.Add(1))
	r := &run{sink: newSink(load)}
	for i := 0; i <= c.cfg.Hops; i++ {
		r.streams = append(r.streams, fmt.Sprintf("%s:%s:%s:s%d", c.cfg.Prefix, c.kind, id, i))
		name := fmt.Sprintf("%s-%s-hop-%d", c.cfg.Prefix, c.kind, i+1)
		if i == c.cfg.Hops {
			name = fmt.Sprintf("%s-%s-sink", c.cfg.Prefix, c.kind)
		}
		r.groups = append(r.groups, name)
	}
	return r
}

// system is one started chain: send feeds it, stop shuts it down and returns what failed.
type system struct {
	send SendFunc
	stop func() error
}

// trial runs load through a chain built by start and reduces what it saw to a Trial.
func (c *chain) trial(ctx context.Context, load Load, start func(context.Context, *run) (system, error)) (Trial, error) {
	r := c.newRun(load)
	sysCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := start(sysCtx, r)
	if err != nil {
		return Trial{}, errors.Join(fmt.Errorf("start %s chain: %w", c.kind, err), c.deleteStreams(ctx, r))
	}
	load.Progress = r.sink.delivered.Load
	watch := WatchProcs(c.cfg.Procs, 0)
	res := Drive(ctx, load, s.send)
	watch.Stop()
	latency := r.sink.latency.Summary(res.Offered - min(res.Offered, r.sink.latency.Count()))
	delivered, dups := r.sink.delivered.Load(), r.sink.duplicates.Load()
	stopErr := s.stop()
	cancel()
	if err := errors.Join(res.Err, stopErr, c.deleteStreams(ctx, r)); err != nil {
		return Trial{}, fmt.Errorf("%s chain at %.0f/s: %w", c.kind, load.Rate, err)
	}
	if res.FirstError != nil {
		c.log.Info("Reference sends failed", zap.String("stage", c.kind), zap.Uint64("count", res.TotalFailed), zap.Error(res.FirstError))
	}
	t := res.Trial()
	t.Latency, t.Delivered, t.Duplicates = latency, delivered, dups
	t.Procs = watch.Usage(res.MeasureStart, res.MeasureEnd)
	if t.Completed > 0 {
		t.CPUPerItem = TotalCPU(t.Procs) / time.Duration(t.Completed)
	}
	return t, nil
}

// deleteStreams removes a trial's streams (their groups go with them), even when ctx has
// ended.
func (c *chain) deleteStreams(ctx context.Context, r *run) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	client := redis.NewClient(&redis.Options{Addr: c.cfg.Addr})
	defer client.Close()
	if err := client.Del(ctx, r.streams...).Err(); err != nil {
		return fmt.Errorf("delete streams of %s chain: %w", c.kind, err)
	}
	return nil
}

// sink is a chain's final consumer's bookkeeping: distinct deliveries, duplicates and the
// end-to-end latency of measured items. It is safe for concurrent use.
type sink struct {
	load       Load
	latency    *Recorder
	delivered  atomic.Uint64
	duplicates atomic.Uint64
	mu         sync.Mutex
	seen       []uint64 // bit set of delivered sequence numbers
}

// newSink returns an empty sink for load.
func newSink(load Load) *sink {
	return &sink{load: load, latency: NewRecorder(), seen: make([]uint64, (load.TotalSends()+63)/64)}
}

// deliver records that item seq, scheduled at sentAt (unix nanoseconds), reached the end
// now.
func (s *sink) deliver(seq uint64, sentAt int64, now time.Time) {
	word, bit := seq/64, uint64(1)<<(seq%64)
	s.mu.Lock()
	if word >= uint64(len(s.seen)) {
		s.seen = append(s.seen, make([]uint64, word+1-uint64(len(s.seen)))...)
	}
	dup := s.seen[word]&bit != 0
	s.seen[word] |= bit
	s.mu.Unlock()
	if dup {
		s.duplicates.Add(1)
		return
	}
	s.delivered.Add(1)
	if !s.load.IsWarmup(seq) {
		s.latency.Record(now.Sub(time.Unix(0, sentAt)))
	}
}
