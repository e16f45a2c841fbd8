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

// PolicyFor returns the policy that governs CI ciID: a policy whose template_id is
// templateID wins; else a policy bound to no template whose ci_type is ciType (a policy bound
// to another template never governs the CI); else drift.DefaultPolicy(). Among the policies
// bound alike, those with ci_ids govern only the CIs they select (drift.Policy.Selects) and
// win over those without; ties go to the smallest policy id (byte order). drift.Governing is
// the same rule over a list. The error is always nil: the catalog reads memory.
func (c *Catalog) PolicyFor(_ context.Context, ciID, ciType, templateID string) (drift.Policy, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if p, ok := c.pick(c.index.policiesByTemplate[templateID], ciID); templateID != "" && ok {
		return p, nil
	}
	if p, ok := c.pick(c.index.policiesByType[ciType], ciID); ciType != "" && ok {
		return p, nil
	}
	return drift.DefaultPolicy(), nil
}

// pick returns the one of the policies ids (sorted) that governs ciID (drift.Preferred).
func (c *Catalog) pick(ids []string, ciID string) (drift.Policy, bool) {
	i := drift.Preferred(len(ids), func(i int) drift.Policy { return c.index.policies[ids[i]] }, ciID)
	if i < 0 {
		return drift.Policy{}, false
	}
	return clonePolicy(c.index.policies[ids[i]]), true
}
