package eventstore

import (
	"context"
	"time"
)

// Observed is a Store that reports how long each append took, for metrics. It keeps the
// capabilities of the store it wraps (filtered subscriptions, Head).
type Observed struct {
	Store
	// OnAppend is called after every Append or AppendMany with its duration, the number of
	// events offered and the error, if any.
	OnAppend func(d time.Duration, events int, err error)
}

// Append implements Store.
func (o Observed) Append(ctx context.Context, stream string, expected Revision, events ...Event) (AppendResult, error) {
	start := time.Now()
	res, err := o.Store.Append(ctx, stream, expected, events...)
	o.OnAppend(time.Since(start), len(events), err)
	return res, err
}

// AppendMany implements Store.
func (o Observed) AppendMany(ctx context.Context, appends []Append) ([]AppendResult, error) {
	start := time.Now()
	res, err := o.Store.AppendMany(ctx, appends)
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	o.OnAppend(time.Since(start), n, err)
	return res, err
}

// SubscribeFiltered implements FilteredSubscriber with the wrapped store's filter, if any.
func (o Observed) SubscribeFiltered(ctx context.Context, after Position, keep Filter) (Subscription, error) {
	return SubscribeFiltered(ctx, o.Store, after, keep)
}

// Header is a Store that knows the position of its last event cheaply.
type Header interface {
	// Head returns the position of the last event, 0 for an empty store.
	Head(ctx context.Context) (Position, error)
}

// Head implements Header when the wrapped store does; else it reports 0 and ErrNoHead.
func (o Observed) Head(ctx context.Context) (Position, error) {
	if h, ok := o.Store.(Header); ok {
		return h.Head(ctx)
	}
	return 0, ErrNoHead
}

// ErrNoHead means the store cannot tell its head cheaply.
var ErrNoHead = errorString("the store cannot tell its head position")

type errorString string

func (e errorString) Error() string { return string(e) }
