package catalog

import (
	"context"
	"maps"
	"slices"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Template returns the template with the given id.
func (c *Catalog) Template(id string) (drift.Template, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.index.templates[id]
	return cloneTemplate(t), ok
}

// Templates returns every template, by template id.
func (c *Catalog) Templates() []drift.Template {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]drift.Template, 0, len(c.index.templates))
	for _, id := range slices.Sorted(maps.Keys(c.index.templates)) {
		out = append(out, cloneTemplate(c.index.templates[id]))
	}
	return out
}

// Policy returns the policy with the given id.
func (c *Catalog) Policy(id string) (drift.Policy, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.index.policies[id]
	return clonePolicy(p), ok
}

// Policies returns every policy, by policy id.
func (c *Catalog) Policies() []drift.Policy {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]drift.Policy, 0, len(c.index.policies))
	for _, id := range slices.Sorted(maps.Keys(c.index.policies)) {
		out = append(out, clonePolicy(c.index.policies[id]))
	}
	return out
}

// TemplateFor returns the template holding the desired state of a CI: the one named
// templateID when that is set (and ok=false when it does not exist), else, of the templates
// whose resource_type is ciType, the one with the highest priority. The template command
// keeps priorities unique per resource_type; between templates recorded before it did, the
// smallest template_id (byte order) wins a tie. The error is always nil: the catalog reads
// memory.
func (c *Catalog) TemplateFor(_ context.Context, ciType, templateID string) (drift.Template, bool, error) {
	if templateID != "" {
		t, ok := c.Template(templateID)
		return t, ok, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids := c.index.templatesByType[ciType]
	if ciType == "" || len(ids) == 0 {
		return drift.Template{}, false, nil
	}
	best := c.index.templates[ids[0]]
	for _, id := range ids[1:] { // sorted: a later id wins only with a higher priority
		if t := c.index.templates[id]; t.Priority > best.Priority {
			best = t
		}
	}
	return cloneTemplate(best), true, nil
}

// PolicyFor returns the policy that governs a CI: a policy whose template_id is templateID
// wins; else a policy bound to no template whose ci_type is ciType (a policy bound to another
// template never governs the CI); else drift.DefaultPolicy(). Ties go to the smallest policy
// id (byte order). The error is always nil: the catalog reads memory.
func (c *Catalog) PolicyFor(_ context.Context, ciType, templateID string) (drift.Policy, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if ids := c.index.policiesByTemplate[templateID]; templateID != "" && len(ids) > 0 {
		return clonePolicy(c.index.policies[ids[0]]), nil
	}
	if ids := c.index.policiesByType[ciType]; ciType != "" && len(ids) > 0 {
		return clonePolicy(c.index.policies[ids[0]]), nil
	}
	return drift.DefaultPolicy(), nil
}
