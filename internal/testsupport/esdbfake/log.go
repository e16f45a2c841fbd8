package esdbfake

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// firstPosition is the position of the first event. The server's positions are byte offsets
// in its log, whose first records are its own; so no event is at position 0.
const firstPosition = 4096

// recordHeader approximates the size of a log record without its variable parts.
const recordHeader = 128

// record is a stored event. Records are never changed once stored.
type record struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	position    uint64
	eventType   string
	contentType string
	custom      []byte
	data        []byte
	created     time.Time
}

// proposal is an event an append proposes.
type proposal struct {
	id          uuid.UUID
	eventType   string
	contentType string
	custom      []byte
	data        []byte
}

// outcome is what an append found and did.
type outcome struct {
	// written reports whether the expected revision matched.
	written bool
	// current is the stream's revision after the append, or -1 if it does not exist.
	current int64
	// last is the last record written, if any.
	last *record
}

// eventLog holds every event in position order and each stream's events in revision order.
// Slices only grow, so a snapshot of one (its header, taken under mu) stays valid unlocked.
type eventLog struct {
	mu      sync.Mutex
	all     []*record
	streams map[string][]*record
	next    uint64
	// grown is closed, and replaced, by every append that writes.
	grown chan struct{}
}

func newEventLog() *eventLog {
	return &eventLog{streams: map[string][]*record{}, next: firstPosition, grown: make(chan struct{})}
}

// append writes events to the end of stream if expects accepts the stream's current
// revision (-1 when it does not exist).
func (l *eventLog) append(stream string, expects func(current int64) bool, events []proposal) outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := l.streams[stream]
	current := int64(len(recs)) - 1
	if !expects(current) {
		return outcome{current: current}
	}
	out := outcome{written: true, current: current}
	now := time.Now().UTC()
	for _, p := range events {
		r := &record{
			id: p.id, stream: stream, revision: uint64(len(recs)), position: l.next,
			eventType: p.eventType, contentType: p.contentType, custom: p.custom, data: p.data, created: now,
		}
		l.next += uint64(recordHeader + len(stream) + len(p.eventType) + len(p.custom) + len(p.data))
		recs = append(recs, r)
		l.all = append(l.all, r)
		out.current, out.last = int64(r.revision), r
	}
	if out.last != nil {
		l.streams[stream] = recs
		close(l.grown)
		l.grown = make(chan struct{})
	}
	return out
}

// stream returns the events of stream, and whether it exists.
func (l *eventLog) stream(name string) ([]*record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, ok := l.streams[name]
	return recs, ok
}

// snapshot returns every event so far, and a channel closed by the next append that writes.
func (l *eventLog) snapshot() ([]*record, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all, l.grown
}
