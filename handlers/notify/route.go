package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Kinds of receivers.
const (
	KindEmail     = "email"
	KindSlack     = "slack"
	KindPagerDuty = "pagerduty"
	KindWebhook   = "webhook"
)

// Receiver is one configured destination.
type Receiver struct {
	// Name identifies the receiver in routes, in a policy's notify list and in the
	// notification's key; required, stable (renaming one sends its notifications again).
	Name string
	// Kind is KindEmail, KindSlack, KindPagerDuty or KindWebhook.
	Kind   string
	Sender Sender
}

// Pages reports whether the receiver wakes people: a planned drift never reaches it.
func (r Receiver) Pages() bool { return r.Kind == KindPagerDuty }

// Route sends the notifications it matches to its receivers. Every route that matches
// contributes its receivers; a receiver gets a notification once whatever the number of
// routes naming it.
type Route struct {
	// Receivers names the receivers; at least one.
	Receivers []string
	// MinSeverity is the least severity matched; default low (every drift).
	MinSeverity drift.Severity
	// Categories lists the categories matched; default every one.
	Categories []drift.Category
	// Events lists the events matched; default every one.
	Events []Event
}

func (r Route) matches(n Notification) bool {
	min := r.MinSeverity
	if min == "" {
		min = drift.SeverityLow
	}
	// A drift of an unknown severity goes everywhere rather than nowhere.
	if n.Severity.Valid() && !n.Severity.AtLeast(min) {
		return false
	}
	if len(r.Categories) > 0 && !slices.Contains(r.Categories, n.Category) {
		return false
	}
	return len(r.Events) == 0 || slices.Contains(r.Events, n.Event)
}

// Routing is the whole routing configuration.
type Routing struct {
	Receivers []Receiver
	Routes    []Route
	// Addressed builds the receiver for an e-mail address in a policy's notify list that
	// names no receiver (through the configured mail server); nil: such entries are ignored.
	Addressed func(address string) (Receiver, error)
}

// Validate reports every problem at once.
func (c Routing) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, r := range c.Receivers {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("receivers[%d]: name: required", i))
		case names[r.Name]:
			errs = append(errs, fmt.Errorf("receivers[%d]: name: %q is used twice", i, r.Name))
		}
		names[r.Name] = true
		switch r.Kind {
		case KindEmail, KindSlack, KindPagerDuty, KindWebhook:
		default:
			errs = append(errs, fmt.Errorf("receivers[%d] (%s): kind: %q is not email, slack, pagerduty or webhook", i, r.Name, r.Kind))
		}
		if r.Sender == nil {
			errs = append(errs, fmt.Errorf("receivers[%d] (%s): sender: required", i, r.Name))
		}
	}
	for i, rt := range c.Routes {
		if len(rt.Receivers) == 0 {
			errs = append(errs, fmt.Errorf("routes[%d]: receivers: at least one", i))
		}
		for _, n := range rt.Receivers {
			if !names[n] {
				errs = append(errs, fmt.Errorf("routes[%d]: receivers: %q is not a receiver", i, n))
			}
		}
		if rt.MinSeverity != "" && !rt.MinSeverity.Valid() {
			errs = append(errs, fmt.Errorf("routes[%d]: min_severity: %q is not low, medium, high or critical", i, rt.MinSeverity))
		}
		for _, c := range rt.Categories {
			if !c.Valid() {
				errs = append(errs, fmt.Errorf("routes[%d]: categories: %q is not a category", i, c))
			}
		}
		for _, e := range rt.Events {
			if !e.Valid() {
				errs = append(errs, fmt.Errorf("routes[%d]: events: %q is not opened, escalated, acknowledged or resolved", i, e))
			}
		}
	}
	return errors.Join(errs...)
}

// Select returns the receivers of n, each once, in configuration order then in the order of
// the policy's list: those of every matching route, and those the drift's policy names
// (notify: receiver names, or e-mail addresses sent through Addressed). A planned drift never
// reaches a receiver that pages. Entries of the policy's list that are neither a receiver nor
// an address are returned in unknown, to be reported, not to fail the notification.
func (c Routing) Select(n Notification, policyNotify []string) (out []Receiver, unknown []string) {
	want := map[string]bool{}
	for _, rt := range c.Routes {
		if rt.matches(n) {
			for _, name := range rt.Receivers {
				want[name] = true
			}
		}
	}
	var extra []string
	for _, entry := range policyNotify {
		if slices.ContainsFunc(c.Receivers, func(r Receiver) bool { return r.Name == entry }) {
			want[entry] = true
		} else if !slices.Contains(extra, entry) {
			extra = append(extra, entry)
		}
	}
	for _, r := range c.Receivers {
		if want[r.Name] && !(n.Planned && r.Pages()) {
			out = append(out, r)
		}
	}
	for _, entry := range extra {
		a, err := mail.ParseAddress(entry)
		if err != nil || c.Addressed == nil {
			unknown = append(unknown, entry)
			continue
		}
		r, err := c.Addressed(a.Address)
		if err != nil {
			unknown = append(unknown, entry)
			continue
		}
		out = append(out, r)
	}
	return out, unknown
}
