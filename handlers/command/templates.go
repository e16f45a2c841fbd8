package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Templates creates, replaces and deletes desired-state templates. Each template's changes
// live in its own stream (template-<id>) and the precedence table of every template in one
// more (see event.TemplatesRanked_v1); a change is appended to both in one AppendMany at the
// revisions it was decided on, so two concurrent changes never both win. Precedence: of the
// templates of one resource_type, the one with the highest priority governs the CIs of that
// type that name no template; a template that would share a resource_type and a priority
// with another is refused with fault.ErrConflict naming the other. It is safe for concurrent
// use.
type Templates struct {
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID returns a fresh UUID for each recorded fact; default uuid.NewString.
	NewID func() string
}

// Create records a new template: t with its baseline hash, version 1 (or the next, for an
// id deleted before) and its times. An id that exists is fault.ErrConflict.
func (c Templates) Create(ctx context.Context, t drift.Template) (drift.Template, eventstore.Position, error) {
	out, _, pos, err := c.change(ctx, t.ID, func(_ drift.Template, exists bool) (drift.Template, bool, error) {
		if exists {
			return t, false, fmt.Errorf("template %q exists; replace it with PUT /templates/%s: %w", t.ID, t.ID, fault.ErrConflict)
		}
		return t, false, nil
	})
	return out, pos, err
}

// Put creates or replaces template t.ID; created says which. A replacement keeps the
// template's created_at and is its next version.
func (c Templates) Put(ctx context.Context, t drift.Template) (drift.Template, bool, eventstore.Position, error) {
	return c.change(ctx, t.ID, func(drift.Template, bool) (drift.Template, bool, error) { return t, false, nil })
}

// Delete records that template id is gone; an unknown (or deleted) id is fault.ErrNotFound.
func (c Templates) Delete(ctx context.Context, id string) (eventstore.Position, error) {
	_, _, pos, err := c.change(ctx, id, func(cur drift.Template, exists bool) (drift.Template, bool, error) {
		if !exists {
			return cur, true, fmt.Errorf("template %q: %w", id, fault.ErrNotFound)
		}
		return cur, true, nil
	})
	return pos, err
}

// decision turns the current template (and whether it exists) into the next one, or into
// its deletion.
type decision func(cur drift.Template, exists bool) (next drift.Template, deleted bool, err error)

// change decides a change of template id against its stream and the precedence table, and
// records it; another writer first makes it decide again.
func (c Templates) change(ctx context.Context, id string, decide decision) (drift.Template, bool, eventstore.Position, error) {
	for attempt := 0; ; attempt++ {
		out, created, pos, err := c.try(ctx, id, decide)
		if !errors.Is(err, eventstore.ErrWrongRevision) {
			return out, created, pos, err
		}
		if attempt == retries {
			return out, false, 0, fmt.Errorf("template %q kept changing meanwhile; retry: %w", id, fault.ErrConflict)
		}
	}
}

func (c Templates) try(ctx context.Context, id string, decide decision) (drift.Template, bool, eventstore.Position, error) {
	stream := event.StreamOf(event.TypeTemplateChanged, id)
	h, err := readHead[event.TemplateChanged_v1](ctx, c.Store, stream)
	if err != nil {
		return drift.Template{}, false, 0, err
	}
	cur, exists := h.Fact.Template, h.Exists && !h.Fact.Deleted
	next, deleted, err := decide(cur, exists)
	if err != nil {
		return drift.Template{}, false, 0, err
	}
	now := nowOf(c.Now)
	if !deleted {
		if next, err = c.complete(id, next, cur, exists, h, now); err != nil {
			return drift.Template{}, false, 0, err
		}
	}
	table, tableAt, err := c.ranks(ctx)
	if err != nil {
		return drift.Template{}, false, 0, err
	}
	ranked, err := rerank(table, next, deleted)
	if err != nil {
		return drift.Template{}, false, 0, err
	}
	var appends []eventstore.Append
	// An unchanged table is not appended again: a change that keeps a template's rank
	// cannot take another's, and one that takes a new rank changes the table. The table
	// goes first: a store that makes the appends one by one (EventStoreDB) can then leave a
	// rank without its change, which the template's next change puts right, but never a
	// change without its rank.
	if tableAt == eventstore.NoStream || !slices.Equal(ranked, table) {
		ev, precedence, err := event.Record{ID: idOf(c.NewID), Subject: event.TemplatePrecedenceSubject, Time: now,
			Fact: event.TemplatesRanked_v1{Templates: ranked, ChangedAt: now}}.StoreEvent()
		if err != nil {
			return drift.Template{}, false, 0, err
		}
		appends = append(appends, eventstore.Append{Stream: precedence, Expected: tableAt, Events: []eventstore.Event{ev}})
	}
	changed, _, err := event.Record{ID: idOf(c.NewID), Subject: id, Time: now, Fact: event.TemplateChanged_v1{Template: next, Deleted: deleted, ChangedAt: now}}.StoreEvent()
	if err != nil {
		return drift.Template{}, false, 0, err
	}
	appends = append(appends, eventstore.Append{Stream: stream, Expected: h.Expected, Events: []eventstore.Event{changed}})
	res, err := c.Store.AppendMany(ctx, appends)
	if err != nil {
		return drift.Template{}, false, 0, fmt.Errorf("record template %s: %w", id, err)
	}
	return next, !exists && !deleted, res[len(res)-1].Position, nil
}

// complete checks the next value of a template and sets what driftwatch computes: the id,
// the baseline hash, the version and the times.
func (c Templates) complete(id string, next, cur drift.Template, exists bool, h head[event.TemplateChanged_v1], now time.Time) (drift.Template, error) {
	next.ID = id
	if err := next.Validate(); err != nil {
		return next, fault.Invalid("template", err)
	}
	hash, err := drift.Hash(next.Definition)
	if err != nil {
		return next, fault.Invalid("template", fmt.Errorf("template_definition: %w", err))
	}
	next.BaselineHash = hash
	// The version counts the stream's changes, so that it grows across a delete and a new
	// create, and starts where templates recorded before versions existed left off.
	next.Version = 1
	if h.Exists {
		next.Version = int(h.Revision) + 2
	}
	next.CreatedAt, next.UpdatedAt = now, now
	if exists {
		next.CreatedAt = cur.CreatedAt
	}
	return next, nil
}

// rerank returns the precedence table with t in its new place (or without it, deleted),
// sorted by template id; a template that would share its resource_type and priority with
// another is fault.ErrConflict naming the other.
func rerank(table []event.TemplateRank, t drift.Template, deleted bool) ([]event.TemplateRank, error) {
	out := make([]event.TemplateRank, 0, len(table)+1)
	for _, r := range table {
		if r.TemplateID == t.ID {
			continue
		}
		if !deleted && r.ResourceType == t.ResourceType && r.Priority == t.Priority {
			return nil, fmt.Errorf("template %q already governs the CIs of resource_type %q at priority %d; "+
				"give template %q another priority (the highest governs) or change %q: %w",
				r.TemplateID, r.ResourceType, r.Priority, t.ID, r.TemplateID, fault.ErrConflict)
		}
		out = append(out, r)
	}
	if !deleted {
		out = append(out, event.TemplateRank{TemplateID: t.ID, ResourceType: t.ResourceType, Priority: t.Priority})
	}
	slices.SortFunc(out, func(a, b event.TemplateRank) int { return cmp.Compare(a.TemplateID, b.TemplateID) })
	return out, nil
}

// ranks reads the precedence table and the revision to append the next one at. A store
// without one (templates recorded before precedence existed) gets it built once from every
// template change it holds.
func (c Templates) ranks(ctx context.Context) ([]event.TemplateRank, eventstore.Revision, error) {
	stream := event.StreamOf(event.TypeTemplatesRanked, event.TemplatePrecedenceSubject)
	h, err := readHead[event.TemplatesRanked_v1](ctx, c.Store, stream)
	if err != nil || h.Exists {
		return h.Fact.Templates, h.Expected, err
	}
	live := map[string]event.TemplateRank{}
	const page = 1024
	for after := eventstore.Position(0); ; {
		recs, err := c.Store.ReadAll(ctx, after, page)
		if err != nil {
			return nil, 0, fmt.Errorf("read template changes after %d: %w", after, err)
		}
		for _, rec := range recs {
			after = rec.Position
			if rec.Type != event.TypeTemplateChanged {
				continue
			}
			env, err := event.FromStore(rec)
			if err != nil {
				continue
			}
			m, err := event.Decode[event.TemplateChanged_v1](env)
			if err != nil {
				continue
			}
			t := m.Fact.Template
			if m.Fact.Deleted {
				delete(live, t.ID)
			} else {
				live[t.ID] = event.TemplateRank{TemplateID: t.ID, ResourceType: t.ResourceType, Priority: t.Priority}
			}
		}
		if len(recs) < page {
			break
		}
	}
	table := make([]event.TemplateRank, 0, len(live))
	for _, r := range live {
		table = append(table, r)
	}
	slices.SortFunc(table, func(a, b event.TemplateRank) int { return cmp.Compare(a.TemplateID, b.TemplateID) })
	return table, eventstore.NoStream, nil
}
