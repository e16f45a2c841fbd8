package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Config configures the stage.
type Config struct {
	// Routing says who gets what; its receivers and routes are validated by New.
	Routing Routing
	// PublicURL is the dashboard's address as people reach it (https://driftwatch.example);
	// notifications link to the drift there. Default none: no link.
	PublicURL string
	// MaxAge is how old a lifecycle fact may be and still be told: older ones (the history a
	// new deployment of the stage reads from the start of the store, a backlog after a long
	// outage) are passed over. Default 6h.
	MaxAge time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxAge == 0 {
		c.MaxAge = 6 * time.Hour
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Routing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("max age: %s must not be negative", c.MaxAge))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		errs = append(errs, fmt.Errorf("public url: %q must be an http or https URL", c.PublicURL))
	}
	return errors.Join(errs...)
}

// Deps are what the stage works with.
type Deps struct {
	// Store holds the drift ledgers and the notification records; required.
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Planning says whether an opening drift is planned, so that its opening does not page;
	// nil: openings are unplanned (escalations, acknowledgements and resolutions read it
	// from the drift's ledger).
	Planning Planning
}

// Planning says which change a drift is part of: "" when it is unplanned. The action
// planner answers it (action.Planner.PlannedChange), from driftwatch's own remediations
// and the ITSM change calendar.
type Planning interface {
	PlannedChange(ctx context.Context, d event.DriftDetected_v1) (string, error)
}

// Dispatcher sends one event of a drift to the receivers its routing selects, each once. It
// is the shared core of the lifecycle stages (Detected, Acknowledged, Resolved; see
// lifecycle.go).
//
// Once: every notification has a stable key (event.NotificationKey: drift, event, receiver),
// and what became of it is recorded as a NotificationSent_v1 in the drift's notification
// stream as soon as its receiver answers, before the next receiver is tried. A redelivered
// fact finds the record and sends nothing again; a fact that failed on one receiver is
// retried for the others only. Sends of one drift are serialised within a process. A crash
// between a receiver's answer and the record sends that one again, under the same key, which
// receivers deduplicate (webhook-id, Message-ID, PagerDuty's dedup_key).
//
// Order: an acknowledgement or resolution reaches a receiver only after the drift's opening
// or escalation did; when it comes first (the lifecycle topics are consumed apart), the
// opening is recorded as skipped so that it is not told late, after the drift was resolved.
// Nothing reaches a receiver after its resolution.
//
// Failures: a receiver's permanent refusal is recorded as failed and not tried again; the
// error returned is then permanent, unless another receiver failed in a way a retry may fix.
//
// Cost per message: a read of the drift's notification stream (a few events) and, per
// notification sent, one request to its service and one append.
type Dispatcher struct {
	cfg   Config
	deps  Deps
	locks keyedMutex
}

// New returns the dispatcher; it refuses a bad config and missing deps.
func New(cfg Config, deps Deps) (*Dispatcher, error) {
	cfg.setDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.Store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new notify: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Dispatcher{cfg: cfg, deps: deps, locks: keyedMutex{m: map[string]*lockEntry{}}}, nil
}

// Dispatch tells n (every field but Key set) to its receivers, selected by the routing and
// by the drift policy's notify list. factTime is when the fact being told was produced.
func (d *Dispatcher) Dispatch(ctx context.Context, n Notification, policyNotify []string, factTime time.Time) error {
	now := d.deps.Now()
	if !factTime.IsZero() && now.Sub(factTime) > d.cfg.MaxAge {
		return nil
	}
	if d.cfg.PublicURL != "" && n.URL == "" {
		n.URL = d.cfg.PublicURL + "/drift/events/" + n.DriftID
	}
	receivers, unknown := d.cfg.Routing.Select(n, policyNotify)
	if len(receivers) == 0 && (len(unknown) == 0 || n.Event != EventOpened) {
		return nil
	}
	unlock := d.locks.lock(n.DriftID)
	defer unlock()
	done, err := d.recorded(ctx, n.DriftID)
	if err != nil {
		return err
	}
	rec := func(receiver, kind string, ev Event, outcome, reason string) error {
		key := event.NotificationKey(n.DriftID, string(ev), receiver)
		if _, ok := done[key]; ok {
			return nil
		}
		if err := d.record(ctx, event.NotificationSent_v1{
			Key: key, DriftID: n.DriftID, CIID: n.CIID, Event: string(ev), Receiver: receiver, Kind: kind,
			Outcome: outcome, Reason: reason, At: now.UTC(),
		}); err != nil {
			return err
		}
		done[key] = outcome
		return nil
	}
	if n.Event == EventOpened {
		for _, entry := range unknown {
			if err := rec(entry, "", n.Event, event.NotificationOutcomeSkipped, "the policy's notify entry names no receiver and no mail server takes addresses"); err != nil {
				return err
			}
		}
	}
	var retryable, permanent []error
	for _, r := range receivers {
		key := event.NotificationKey(n.DriftID, string(n.Event), r.Name)
		if _, ok := done[key]; ok {
			continue
		}
		if reason := d.blocked(done, n, r.Name); reason != "" {
			if n.Event == EventAcknowledged || n.Event == EventResolved {
				// The opening must not follow: it would page for a drift already handled.
				if err := rec(r.Name, r.Kind, EventOpened, event.NotificationOutcomeSkipped, "the drift was "+string(n.Event)+" before its opening was told"); err != nil {
					return err
				}
			}
			if err := rec(r.Name, r.Kind, n.Event, event.NotificationOutcomeSkipped, reason); err != nil {
				return err
			}
			continue
		}
		m := n
		m.Key = key
		err := r.Sender.Send(ctx, m)
		switch {
		case err == nil:
			err = rec(r.Name, r.Kind, n.Event, event.NotificationOutcomeSent, "")
		case fault.IsPermanent(err):
			permanent = append(permanent, fmt.Errorf("notify %s: %w", r.Name, err))
			err = rec(r.Name, r.Kind, n.Event, event.NotificationOutcomeFailed, cut(err.Error(), 500))
		default:
			retryable = append(retryable, fmt.Errorf("notify %s: %w", r.Name, err))
			err = nil
		}
		if err != nil {
			return err
		}
	}
	if len(retryable) > 0 {
		return fmt.Errorf("notify %s of drift %s: %w", n.Event, n.DriftID, errors.Join(append(retryable, permanent...)...))
	}
	if len(permanent) > 0 {
		return fault.Permanent(fmt.Errorf("notify %s of drift %s: %w", n.Event, n.DriftID, errors.Join(permanent...)))
	}
	return nil
}

// blocked says why n must not reach receiver now, or "".
func (d *Dispatcher) blocked(done map[string]string, n Notification, receiver string) string {
	sent := func(e Event) bool {
		return done[event.NotificationKey(n.DriftID, string(e), receiver)] == event.NotificationOutcomeSent
	}
	if _, ok := done[event.NotificationKey(n.DriftID, string(EventResolved), receiver)]; ok {
		return "the drift's resolution was already told"
	}
	if (n.Event == EventAcknowledged || n.Event == EventResolved) && !sent(EventOpened) && !sent(EventEscalated) {
		return "neither the drift's opening nor its escalation was sent"
	}
	return ""
}

// recorded reads the outcomes recorded for a drift's notifications, by key.
func (d *Dispatcher) recorded(ctx context.Context, driftID string) (map[string]string, error) {
	stream := event.NotificationStreamPrefix + driftID
	out := map[string]string{}
	const page = 256
	for from := uint64(0); ; {
		recs, err := d.deps.Store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return nil, fmt.Errorf("read notifications of drift %s: %w", driftID, err)
		}
		for _, r := range recs {
			env, err := event.FromStore(r)
			if err != nil {
				return nil, err
			}
			m, err := event.Decode[event.NotificationSent_v1](env)
			if err != nil {
				return nil, fmt.Errorf("read notifications of drift %s: %w", driftID, err)
			}
			out[m.Fact.Key] = m.Fact.Outcome
		}
		if len(recs) < page {
			return out, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

func (d *Dispatcher) record(ctx context.Context, f event.NotificationSent_v1) error {
	ev, stream, err := event.Record{ID: f.Key, Subject: f.DriftID, Time: f.At, Fact: f}.StoreEvent()
	if err != nil {
		return err
	}
	if _, err := d.deps.Store.Append(ctx, stream, eventstore.Any, ev); err != nil {
		return fmt.Errorf("record notification %s of drift %s to %s: %w", f.Event, f.DriftID, f.Receiver, err)
	}
	return nil
}

// keyedMutex serialises work per key.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &lockEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// summaryValue renders a JSON value for a one-line summary.
func summaryValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	return cut(string(raw), 120)
}

// cut returns s cut to at most n runes, the last one an ellipsis when it was cut.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
