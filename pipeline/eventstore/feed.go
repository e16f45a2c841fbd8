package eventstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// Feed is the Subscription adapters hand out: a buffered channel that the adapter's goroutine
// fills through Out and closes with End, recording why it ended.
type Feed struct {
	events chan Recorded
	read   atomic.Uint64 // position the adapter has looked at, kept or not

	mu  sync.Mutex
	err error
}

// SetRead records that the adapter has looked at every event up to pos (delivered or
// filtered out), for lag metrics.
func (f *Feed) SetRead(pos Position) { f.read.Store(uint64(pos)) }

// Read is the position the feed has looked at; 0 when its adapter does not say.
func (f *Feed) Read() Position { return Position(f.read.Load()) }

// NewFeed returns a feed whose channel buffers up to buffer events.
func NewFeed(buffer int) *Feed { return &Feed{events: make(chan Recorded, buffer)} }

// Events implements Subscription.
func (f *Feed) Events() <-chan Recorded { return f.events }

// Err implements Subscription.
func (f *Feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Out is the sending side, for the adapter alone.
func (f *Feed) Out() chan<- Recorded { return f.events }

// End records why the feed ended (nil when its context ended) and closes it. Call it once.
func (f *Feed) End(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	close(f.events)
}

// CheckAppend validates the arguments of Append and returns the event ids parsed. It reports
// every problem at once, naming each event by its index. It does not parse Data: producers
// hand the store JSON they encoded themselves, and checking it again on every append is the
// cost the hot path must not pay.
func CheckAppend(stream string, expected Revision, events []Event) ([]uuid.UUID, error) {
	var errs []error
	if stream == "" {
		errs = append(errs, errors.New("stream name: required"))
	}
	if expected < StreamExists {
		errs = append(errs, fmt.Errorf("expected revision %d: unknown", expected))
	}
	if len(events) == 0 {
		errs = append(errs, errors.New("no events"))
	}
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("event %d: id %q is not a UUID", i, e.ID))
		}
		ids[i] = id
		if e.Type == "" {
			errs = append(errs, fmt.Errorf("event %d: type: required", i))
		}
	}
	return ids, errors.Join(errs...)
}
