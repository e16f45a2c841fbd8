package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Policies creates and changes drift policies. Each policy's changes live in its own stream
// (policy-<id>), appended at the revision they were decided on: a change that another came
// before is fault.ErrConflict. It is safe for concurrent use.
type Policies struct {
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID returns a fresh UUID for each recorded fact; default uuid.NewString.
	NewID func() string
}

// Create records a new policy, with its defaults filled in, as version 1. Bad fields are
// fault.Invalid; an id that exists is fault.ErrConflict.
func (c Policies) Create(ctx context.Context, p drift.Policy) (drift.Policy, eventstore.Position, error) {
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		return p, 0, fault.Invalid("policy", err)
	}
	h, err := c.head(ctx, p.ID)
	if err != nil {
		return p, 0, err
	}
	if h.Exists && !h.Fact.Deleted {
		return p, 0, fmt.Errorf("policy %q exists; change it with PATCH /drift/policies/%s: %w", p.ID, p.ID, fault.ErrConflict)
	}
	return c.record(ctx, p, h)
}

// Patch changes policy id by edit, which turns the current policy into the next (the HTTP
// layer applies a merge or JSON patch; its error is returned as it is, so that it can name
// the bad part of the patch), and records the result, validated again, as the next version. An unknown id is fault.ErrNotFound; an edit that changes the id, or leaves a bad
// policy, is fault.Invalid; a change recorded meanwhile is fault.ErrConflict.
func (c Policies) Patch(ctx context.Context, id string, edit func(cur drift.Policy) (drift.Policy, error)) (drift.Policy, eventstore.Position, error) {
	h, err := c.head(ctx, id)
	if err != nil {
		return drift.Policy{}, 0, err
	}
	if !h.Exists || h.Fact.Deleted {
		return drift.Policy{}, 0, fmt.Errorf("policy %q: %w", id, fault.ErrNotFound)
	}
	p, err := edit(h.Fact.Policy)
	if err != nil {
		return drift.Policy{}, 0, err
	}
	if p.ID != id {
		return p, 0, fault.Invalid("policy", fmt.Errorf("id: must stay %q", id))
	}
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		return p, 0, fault.Invalid("policy", err)
	}
	return c.record(ctx, p, h)
}

func (c Policies) head(ctx context.Context, id string) (head[event.PolicyChanged_v1], error) {
	return readHead[event.PolicyChanged_v1](ctx, c.Store, event.StreamOf(event.TypePolicyChanged, id))
}

// record appends p as the policy's next version at the revision it was decided on.
func (c Policies) record(ctx context.Context, p drift.Policy, h head[event.PolicyChanged_v1]) (drift.Policy, eventstore.Position, error) {
	p.Version = 1
	if h.Exists {
		p.Version = int(h.Revision) + 2
	}
	now := nowOf(c.Now)
	ev, stream, err := event.Record{ID: idOf(c.NewID), Subject: p.ID, Time: now, Fact: event.PolicyChanged_v1{Policy: p, ChangedAt: now}}.StoreEvent()
	if err != nil {
		return p, 0, err
	}
	res, err := c.Store.Append(ctx, stream, h.Expected, ev)
	if errors.Is(err, eventstore.ErrWrongRevision) {
		return p, 0, fmt.Errorf("policy %q was changed by another request meanwhile; read it again and retry: %w", p.ID, fault.ErrConflict)
	}
	if err != nil {
		return p, 0, fmt.Errorf("record policy %s: %w", p.ID, err)
	}
	return p, res.Position, nil
}
