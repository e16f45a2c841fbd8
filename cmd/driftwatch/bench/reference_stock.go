package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/router"
)

// Metadata keys the reference messages carry through watermill.
const (
	// metaSeq is the item's sequence number in the load.
	metaSeq = "bench_seq"
	// metaSentAt is the item's scheduled send time, unix nanoseconds.
	metaSentAt = "bench_sent_at"
)

// routerCloseTimeout bounds how long a trial waits for the router's handlers to finish.
const routerCloseTimeout = 5 * time.Second

// StockChain is the first reference line: a chain of stock watermill-redisstream handlers in
// one watermill Router (see the file comment of reference.go). It is safe for concurrent use,
// but concurrent trials share the machine and distort each other.
type StockChain struct {
	c    *chain
	wlog watermill.LoggerAdapter
}

// NewStockChain returns a stock chain over the Redis server at cfg.Addr. Nothing runs
// until Trial.
func NewStockChain(cfg ChainConfig, log *zap.Logger) (*StockChain, error) {
	c, err := newChain("stock", cfg, log)
	if err != nil {
		return nil, err
	}
	return &StockChain{c: c, wlog: quietShutdown{router.NewLogger(log)}}, nil
}

// quietShutdown passes watermill's logs on, except that the read errors every subscriber
// logs when it is closed (its context cancelled, its client closed) go to Debug: they are
// how a trial ends, not failures.
type quietShutdown struct{ watermill.LoggerAdapter }

// Error logs at Error unless err is a shutdown error.
func (q quietShutdown) Error(msg string, err error, f watermill.LogFields) {
	if errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) {
		q.LoggerAdapter.Debug(msg, f.Add(watermill.LogFields{"error": err.Error()}))
		return
	}
	q.LoggerAdapter.Error(msg, err, f)
}

// With returns the adapter with fields added, still quiet at shutdown.
func (q quietShutdown) With(f watermill.LogFields) watermill.LoggerAdapter {
	return quietShutdown{q.LoggerAdapter.With(f)}
}

// Trial runs load through a fresh chain (new streams and groups, a new router) and reports
// the end-to-end figures; it stops the router and deletes the streams before it returns. It
// fits FindMax as a TrialFunc.
func (s *StockChain) Trial(ctx context.Context, load Load) (Trial, error) {
	return s.c.trial(ctx, load, s.start)
}

// start builds and runs the router of one trial and the load's publisher.
func (s *StockChain) start(ctx context.Context, r *run) (sys system, err error) {
	// Until the router runs, it owns nothing: close what was built if a step fails.
	var built []io.Closer
	defer func() {
		if err != nil {
			for _, c := range built {
				err = errors.Join(err, c.Close())
			}
		}
	}()
	rt, err := message.NewRouter(message.RouterConfig{CloseTimeout: routerCloseTimeout}, s.wlog)
	if err != nil {
		return system{}, fmt.Errorf("new router: %w", err)
	}
	hops := s.c.cfg.Hops
	for i := 1; i <= hops; i++ {
		sub, err := s.subscriber(r.groups[i-1])
		if err != nil {
			return system{}, err
		}
		built = append(built, sub)
		pub, err := s.publisher()
		if err != nil {
			return system{}, err
		}
		built = append(built, pub)
		rt.AddHandler(r.groups[i-1], r.streams[i-1], sub, r.streams[i], pub, s.hop)
	}
	sub, err := s.subscriber(r.groups[hops])
	if err != nil {
		return system{}, err
	}
	built = append(built, sub)
	rt.AddNoPublisherHandler(r.groups[hops], r.streams[hops], sub, func(msg *message.Message) error {
		return deliverStock(r.sink, msg)
	})
	loadPub, err := s.publisher()
	if err != nil {
		return system{}, err
	}
	built = append(built, loadPub)

	ran := make(chan error, 1)
	go func() { ran <- rt.Run(ctx) }()
	select {
	case <-rt.Running():
	case err := <-ran:
		return system{}, fmt.Errorf("run router: %w", err)
	}
	payload, first := s.c.payload, r.streams[0]
	send := func(ctx context.Context, seq uint64) error {
		msg := message.NewMessage(watermill.NewUUID(), payload)
		msg.Metadata.Set(metaSeq, strconv.FormatUint(seq, 10))
		msg.Metadata.Set(metaSentAt, strconv.FormatInt(ScheduledAt(ctx).UnixNano(), 10))
		msg.SetContext(ctx)
		return loadPub.Publish(first, msg)
	}
	stop := func() error {
		err := rt.Close()
		if runErr := <-ran; runErr != nil {
			err = errors.Join(err, fmt.Errorf("run router: %w", runErr))
		}
		return errors.Join(err, loadPub.Close())
	}
	return system{send: send, stop: stop}, nil
}

// hop is every stock handler: one output message with the (worked) payload and the input's
// metadata, under a new UUID, as watermill handlers do.
func (s *StockChain) hop(msg *message.Message) ([]*message.Message, error) {
	payload, err := s.c.cfg.Work.apply(msg.Payload)
	if err != nil {
		return nil, err
	}
	out := message.NewMessage(watermill.NewUUID(), payload)
	out.Metadata = maps.Clone(msg.Metadata)
	return []*message.Message{out}, nil
}

// deliverStock records a message at the final consumer.
func deliverStock(s *sink, msg *message.Message) error {
	now := time.Now()
	seq, err1 := strconv.ParseUint(msg.Metadata.Get(metaSeq), 10, 64)
	sentAt, err2 := strconv.ParseInt(msg.Metadata.Get(metaSentAt), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("read bench metadata of %s: %w", msg.UUID, err)
	}
	s.deliver(seq, sentAt, now)
	return nil
}

// subscriber returns a stock redisstream subscriber in group, with its own client (the
// subscriber closes it).
func (s *StockChain) subscriber(group string) (*redisstream.Subscriber, error) {
	client := redis.NewClient(&redis.Options{Addr: s.c.cfg.Addr})
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:        client,
		Unmarshaller:  redisstream.DefaultMarshallerUnmarshaller{},
		Consumer:      s.c.cfg.Consumer,
		ConsumerGroup: group,
		// Without it the first XREADGROUP blocks forever on an empty stream, and a trial
		// cannot shut its router down promptly.
		DisableIndefiniteInitialBlock: true,
		// At shutdown the closed client fails the read loop; stopping there, instead of
		// retrying every 500ms, only shortens the shutdown.
		ShouldStopOnReadErrors: func(err error) bool {
			return errors.Is(err, redis.ErrClosed) || errors.Is(err, context.Canceled)
		},
	}, s.wlog)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("new subscriber for %s: %w", group, err), client.Close())
	}
	return sub, nil
}

// publisher returns a stock redisstream publisher with its own client (the publisher
// closes it).
func (s *StockChain) publisher() (*redisstream.Publisher, error) {
	client := redis.NewClient(&redis.Options{Addr: s.c.cfg.Addr})
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{
		Client:     client,
		Marshaller: redisstream.DefaultMarshallerUnmarshaller{},
	}, s.wlog)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("new publisher: %w", err), client.Close())
	}
	return pub, nil
}
