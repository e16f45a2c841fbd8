package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent/spool"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Backoff bounds between attempts to reach an unreachable server.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Stats describe the outbox for the agent's health.
type Stats struct {
	// Connected is false from a failed send until the next successful one.
	Connected bool `json:"connected"`
	// Spooled and SpooledBytes are the observations waiting to be sent.
	Spooled      int   `json:"spooled"`
	SpooledBytes int64 `json:"spooled_bytes"`
	// Dropped counts observations dropped to keep the spool within its bound.
	Dropped int `json:"dropped"`
	// Sent counts observations the server accepted; Refused those it refused for good.
	Sent    uint64 `json:"sent"`
	Refused uint64 `json:"refused"`
	// LastError is the last send failure.
	LastError  string    `json:"last_error,omitempty"`
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
}

// Outbox spools observations and sends them in order. Submit and Stats are safe for
// concurrent use with Run.
type Outbox struct {
	sender Sender
	log    *zap.Logger

	mu    sync.Mutex
	spool *spool.Spool
	stats Stats
	wake  chan struct{}
	sent  chan struct{} // closed and replaced after every send
}

// NewOutbox returns an outbox over sp that sends with sender; all are required.
func NewOutbox(sender Sender, sp *spool.Spool, log *zap.Logger) (*Outbox, error) {
	var errs []error
	if sender == nil {
		errs = append(errs, errors.New("sender: required"))
	}
	if sp == nil {
		errs = append(errs, errors.New("spool: required"))
	}
	if log == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new outbox: %w", err)
	}
	o := &Outbox{sender: sender, log: log, spool: sp, wake: make(chan struct{}, 1), sent: make(chan struct{})}
	o.stats.Connected = true
	o.stats.Spooled, o.stats.SpooledBytes = sp.Len(), sp.Bytes()
	return o, nil
}

// Submit makes sub durable in the spool and wakes the sender. An error means the observation
// is not spooled.
func (o *Outbox) Submit(sub event.ObservationSubmitted_v1) error {
	doc, err := json.Marshal(sub)
	if err != nil {
		return fmt.Errorf("encode observation %s: %w", sub.ID, err)
	}
	o.mu.Lock()
	dropped, err := o.spool.Append(doc)
	o.stats.Dropped += dropped
	o.stats.Spooled, o.stats.SpooledBytes = o.spool.Len(), o.spool.Bytes()
	o.mu.Unlock()
	if dropped > 0 {
		o.log.Warn("Spool full: dropped the oldest observations", zap.Int("dropped", dropped))
	}
	if err != nil {
		return err
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns the outbox's current figures.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

// Drained returns a channel closed after the next send (or refusal), and whether the spool is
// empty now; tests and benchmarks wait on it.
func (o *Outbox) Drained() (<-chan struct{}, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent, o.spool.Len() == 0
}

// Run sends spooled observations, oldest first, until ctx ends; it returns nil then. A send
// that fails is retried with backoff (100ms doubling to 5s) and nothing after it is sent
// meanwhile; one refused for good (fault.Permanent) is dropped and logged.
func (o *Outbox) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		o.mu.Lock()
		doc, n, ok := o.spool.Peek()
		o.mu.Unlock()
		if !ok {
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		err := o.send(ctx, doc)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !fault.IsPermanent(err) {
			o.failed(err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		if err := o.done(n, err); err != nil {
			return err
		}
	}
}

// send sends one spooled document.
func (o *Outbox) send(ctx context.Context, doc []byte) error {
	if err := o.sender.Send(ctx, doc); err != nil {
		return fmt.Errorf("send observation: %w", err)
	}
	return nil
}

// failed records a retryable failure, logging when the server becomes unreachable.
func (o *Outbox) failed(err error) {
	o.mu.Lock()
	was := o.stats.Connected
	o.stats.Connected, o.stats.LastError = false, err.Error()
	spooled := o.stats.Spooled
	o.mu.Unlock()
	if was {
		o.log.Warn("Server unreachable: spooling observations", zap.Int("spooled", spooled), zap.Error(err))
	}
}

// done removes entry n after it was sent (sendErr nil) or refused for good.
func (o *Outbox) done(n uint64, sendErr error) error {
	o.mu.Lock()
	err := o.spool.Done(n)
	was := o.stats.Connected
	if sendErr == nil {
		o.stats.Sent++
		o.stats.Connected, o.stats.LastSentAt = true, time.Now().UTC()
	} else {
		o.stats.Refused++
		o.stats.LastError = sendErr.Error()
	}
	o.stats.Spooled, o.stats.SpooledBytes = o.spool.Len(), o.spool.Bytes()
	spooled := o.stats.Spooled
	close(o.sent)
	o.sent = make(chan struct{})
	o.mu.Unlock()
	switch {
	case sendErr != nil:
		o.log.Warn("Observation refused by the server: dropped", zap.Error(sendErr))
	case !was:
		o.log.Info("Server reachable again", zap.Int("spooled", spooled))
	}
	if err != nil {
		return fmt.Errorf("remove sent observation from the spool: %w", err)
	}
	return nil
}

// Sender returns the sender the outbox sends with.
func (o *Outbox) Sender() Sender { return o.sender }
