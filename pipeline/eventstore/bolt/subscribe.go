package bolt

import (
	"context"
	"fmt"
	"sync"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// subscription is a Store's live feed: one goroutine that reads the log in pages from its
// position and, when it has read everything, waits for the committer's next broadcast.
// Subscribe delivers every event after position after, in global order, then follows new
// appends until ctx ends (Err nil) or the store closes (Err ErrClosed). A slow reader holds
// no memory: the subscription reads the next page from disk only when it has delivered the
// last one.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	return s.SubscribeFiltered(ctx, after, nil)
}

// SubscribeFiltered is Subscribe of the events keep keeps: the others are skipped where they
// are read, before their data is copied.
func (s *Store) SubscribeFiltered(ctx context.Context, after eventstore.Position, keep eventstore.Filter) (eventstore.Subscription, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closing {
		return nil, fmt.Errorf("subscribe after %d: %w", after, ErrClosed)
	}
	feed := eventstore.NewFeed(s.cfg.PageSize)
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		feed.End(s.follow(ctx, after, keep, feed))
	}()
	return feed, nil
}

// follow feeds out until ctx ends or the store closes.
func (s *Store) follow(ctx context.Context, pos eventstore.Position, keep eventstore.Filter, feed *eventstore.Feed) error {
	out := feed.Out()
	scan := s.cfg.PageSize
	if keep != nil {
		scan *= 16 // skipping is cheap; a transaction still stays short
	}
	for ctx.Err() == nil {
		// Take the wake-up channel before reading, so that a commit landing after the read
		// still wakes us: no append can fall between the read and the wait.
		wake := s.notify.wait()
		page, read, err := s.readKept(pos, s.cfg.PageSize, scan, keep)
		if err != nil {
			return fmt.Errorf("subscription after %d: %w", pos, err)
		}
		for _, r := range page {
			select {
			case out <- r:
			case <-ctx.Done():
				return nil
			case <-s.closed:
				return ErrClosed
			}
		}
		feed.SetRead(read)
		if read != pos {
			pos = read
			continue // read again until a read finds nothing new
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
