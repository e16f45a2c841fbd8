// Package catalog is the read model of templates and policies, built from TemplateChanged_v1
// and PolicyChanged_v1 (a change with Deleted set removes the entry). It answers the API's
// queries and the lookups the pipeline stages make for every observation: TemplateFor and
// PolicyFor read an in-memory index, loaded from the bbolt model at Open and updated when a
// transaction that changed it commits, so they are cheap and safe for concurrent use.
package catalog

import (
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/projections"
)

// Name is the projection's name and root bucket.
const Name = "catalog"

var (
	rootBucket     = []byte(Name)
	templateBucket = []byte("template") // template id -> drift.Template JSON
	policyBucket   = []byte("policy")   // policy id -> drift.Policy JSON
)

// Catalog is the templates and policies read model. Every method is safe for concurrent use.
type Catalog struct {
	mu    sync.RWMutex
	index index
}

var _ projections.Projection = (*Catalog)(nil)

// New returns a catalog to register with a projections.Runner.
func New() *Catalog { return &Catalog{index: newIndex()} }

// Name implements projections.Projection.
func (c *Catalog) Name() string { return Name }

// Version implements projections.Projection.
func (c *Catalog) Version() int { return 2 }

// Consumes implements projections.Consumer.
func (c *Catalog) Consumes(typ string) bool {
	return typ == event.TypeTemplateChanged || typ == event.TypePolicyChanged
}

// Open implements projections.Projection: it creates the buckets and loads the index.
func (c *Catalog) Open(db *bolt.DB) error {
	idx := newIndex()
	err := db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootBucket)
		if err != nil {
			return err
		}
		tb, err := root.CreateBucketIfNotExists(templateBucket)
		if err != nil {
			return err
		}
		pb, err := root.CreateBucketIfNotExists(policyBucket)
		if err != nil {
			return err
		}
		err = tb.ForEach(func(k, v []byte) error {
			var t drift.Template
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode template %s: %w", k, err)
			}
			idx.putTemplate(t)
			return nil
		})
		if err != nil {
			return err
		}
		return pb.ForEach(func(k, v []byte) error {
			var p drift.Policy
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode policy %s: %w", k, err)
			}
			idx.putPolicy(p)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("open catalog: %w", err)
	}
	c.mu.Lock()
	c.index = idx
	c.mu.Unlock()
	return nil
}

// Apply implements projections.Projection. It is idempotent: a change stores the whole new
// value (or removes it), and the index follows once the transaction commits.
func (c *Catalog) Apply(tx *bolt.Tx, ev projections.Event) error {
	root := tx.Bucket(rootBucket)
	switch ev.Envelope.Type {
	case event.TypeTemplateChanged:
		msg, err := event.Decode[event.TemplateChanged_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		t, deleted := msg.Fact.Template, msg.Fact.Deleted
		if t.Version == 0 {
			// Every change is a version: the first is 1, an update N+1 (a change's revision
			// on the template's stream, which only grows).
			t.Version = int(ev.Revision) + 1
		}
		if t.ID == "" {
			return projections.Skip(fmt.Errorf("template change without template_id"))
		}
		if err := change(root.Bucket(templateBucket), t.ID, t, deleted); err != nil {
			return err
		}
		tx.OnCommit(func() { c.update(func(i *index) { i.changeTemplate(t, deleted) }) })
	case event.TypePolicyChanged:
		msg, err := event.Decode[event.PolicyChanged_v1](ev.Envelope)
		if err != nil {
			return projections.Skip(err)
		}
		p, deleted := msg.Fact.Policy, msg.Fact.Deleted
		// Writers other than the API may leave defaults out; lookups return usable policies.
		p.SetDefaults()
		if p.Version == 0 {
			p.Version = int(ev.Revision) + 1
		}
		if p.ID == "" {
			return projections.Skip(fmt.Errorf("policy change without id"))
		}
		if err := change(root.Bucket(policyBucket), p.ID, p, deleted); err != nil {
			return err
		}
		tx.OnCommit(func() { c.update(func(i *index) { i.changePolicy(p, deleted) }) })
	}
	return nil
}

// change stores v under id, or deletes id.
func change(b *bolt.Bucket, id string, v any, deleted bool) error {
	if deleted {
		return b.Delete([]byte(id))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	return b.Put([]byte(id), raw)
}

func (c *Catalog) update(fn func(*index)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.index)
}
