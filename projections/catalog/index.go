package catalog

import (
	"bytes"
	"slices"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// index is the in-memory form of the catalog. Id lists are kept sorted, so that the
// smallest id wins ties without sorting on every lookup.
type index struct {
	templates map[string]drift.Template
	policies  map[string]drift.Policy
	// templatesByType lists template ids by resource_type.
	templatesByType map[string][]string
	// policiesByTemplate lists policy ids by template_id.
	policiesByTemplate map[string][]string
	// policiesByType lists, by ci_type, the ids of policies bound to no template.
	policiesByType map[string][]string
}

func newIndex() index {
	return index{
		templates: map[string]drift.Template{}, policies: map[string]drift.Policy{},
		templatesByType: map[string][]string{}, policiesByTemplate: map[string][]string{},
		policiesByType: map[string][]string{},
	}
}

func (i *index) changeTemplate(t drift.Template, deleted bool) {
	if old, ok := i.templates[t.ID]; ok {
		remove(i.templatesByType, old.ResourceType, old.ID)
		delete(i.templates, t.ID)
	}
	if !deleted {
		i.putTemplate(t)
	}
}

func (i *index) putTemplate(t drift.Template) {
	i.templates[t.ID] = t
	insert(i.templatesByType, t.ResourceType, t.ID)
}

func (i *index) changePolicy(p drift.Policy, deleted bool) {
	if old, ok := i.policies[p.ID]; ok {
		remove(i.policiesByTemplate, old.TemplateID, old.ID)
		remove(i.policiesByType, old.CIType, old.ID)
		delete(i.policies, p.ID)
	}
	if !deleted {
		i.putPolicy(p)
	}
}

func (i *index) putPolicy(p drift.Policy) {
	i.policies[p.ID] = p
	if p.TemplateID != "" {
		insert(i.policiesByTemplate, p.TemplateID, p.ID)
	} else if p.CIType != "" {
		insert(i.policiesByType, p.CIType, p.ID)
	}
}

// insert adds id to the sorted list under key.
func insert(m map[string][]string, key, id string) {
	ids := m[key]
	if at, found := slices.BinarySearch(ids, id); !found {
		m[key] = slices.Insert(ids, at, id)
	}
}

// remove drops id from the sorted list under key.
func remove(m map[string][]string, key, id string) {
	ids := m[key]
	if at, found := slices.BinarySearch(ids, id); found {
		ids = slices.Delete(ids, at, at+1)
	}
	if len(ids) == 0 {
		delete(m, key)
		return
	}
	m[key] = ids
}

// cloneTemplate copies t so that callers cannot change the index through its slices.
func cloneTemplate(t drift.Template) drift.Template {
	t.Definition = bytes.Clone(t.Definition)
	return t
}

// clonePolicy copies p so that callers cannot change the index through its slices.
func clonePolicy(p drift.Policy) drift.Policy {
	p.MonitoredFields = slices.Clone(p.MonitoredFields)
	p.Ignore = slices.Clone(p.Ignore)
	p.Notify = slices.Clone(p.Notify)
	p.CIIDs = slices.Clone(p.CIIDs)
	p.Rules = slices.Clone(p.Rules)
	p.Exceptions = slices.Clone(p.Exceptions)
	p.MaintenanceWindows = slices.Clone(p.MaintenanceWindows)
	return p
}
