package bolt

import (
	"context"
	"fmt"
	"sync"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// subscription is a Store's live feed: one goroutine that reads the log in pages from its
// position and, when it has read everything, waits for the committer's next broadcast.
type subscription struct {
	events chan eventstore.Recorded

	mu  sync.Mutex
	err error
}

// Events delivers events in global order; it is closed when the subscription ends.
func (s *subscription) Events() <-chan eventstore.Recorded { return s.events }

// Err reports why the subscription ended: nil when its context ended, ErrClosed when the
// store closed, or the read error.
func (s *subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Subscribe delivers every event after position after, in global order, then follows new
// appends until ctx ends (Err nil) or the store closes (Err ErrClosed). A slow reader holds
// no memory: the subscription reads the next page from disk only when it has delivered the
// last one.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closing {
		return nil, fmt.Errorf("subscribe after %d: %w", after, ErrClosed)
	}
	sub := &subscription{events: make(chan eventstore.Recorded, s.cfg.PageSize)}
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		err := s.follow(ctx, after, sub.events)
		sub.mu.Lock()
		sub.err = err
		sub.mu.Unlock()
		close(sub.events)
	}()
	return sub, nil
}

// follow feeds out until ctx ends or the store closes.
func (s *Store) follow(ctx context.Context, pos eventstore.Position, out chan<- eventstore.Recorded) error {
	for ctx.Err() == nil {
		// Take the wake-up channel before reading, so that a commit landing after the read
		// still wakes us: no append can fall between the read and the wait.
		wake := s.notify.wait()
		page, err := s.readAll(pos, s.cfg.PageSize)
		if err != nil {
			return fmt.Errorf("subscription after %d: %w", pos, err)
		}
		for _, r := range page {
			select {
			case out <- r:
				pos = r.Position
			case <-ctx.Done():
				return nil
			case <-s.closed:
				return ErrClosed
			}
		}
		if len(page) == s.cfg.PageSize {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return ErrClosed
		}
	}
	return nil
}

// notifier wakes every waiting subscription after a commit: wait returns a channel that the
// next broadcast closes.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}
