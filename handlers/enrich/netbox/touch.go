package netbox

import (
	"encoding/json"
	"slices"
	"strings"
)

// Touched says which CIs a change in NetBox may have changed the desired state of.
type Touched struct {
	// All is set when the change may touch any CI: a config context, config template,
	// custom field, platform, site, device role, IP address or MAC address changed, or an
	// interface moved to an object the change does not name.
	All bool
	// Names are the names, before and after the change, of the devices and virtual machines
	// changed or whose interfaces changed, with their driftwatch_ci values; sorted, without
	// duplicates. They are CI ids, or names Invalidate matches the cached CIs by.
	Names []string
}

// Merge returns t with o's names and All added.
func (t Touched) Merge(o Touched) Touched {
	out := Touched{All: t.All || o.All}
	out.add(t.Names...)
	out.add(o.Names...)
	return out
}

func (t *Touched) add(names ...string) {
	for _, n := range names {
		if n == "" {
			continue
		}
		if i, found := slices.BinarySearch(t.Names, n); !found {
			t.Names = slices.Insert(t.Names, i, n)
		}
	}
}

// globalModels are the models whose change may reach any CI: they feed config contexts,
// the custom fields of every object, or the slugs and addresses the documents name.
var globalModels = map[string]bool{
	"configcontext": true, "configtemplate": true, "customfield": true, "platform": true,
	"site": true, "devicerole": true, "ipaddress": true, "macaddress": true,
}

// parentKeys are the models that belong to a device or virtual machine, with the key that
// names it and its object type.
var parentKeys = map[string]struct{ key, kind string }{
	"interface":   {"device", objDevice},
	"vminterface": {"virtual_machine", objVM},
	"virtualdisk": {"virtual_machine", objVM},
}

// parentRef is a device or virtual machine known by id only.
type parentRef struct {
	kind string
	id   int64
}

// touch is what one change says of the CIs it reaches: names it gives, and parents that
// the serialized snapshots give by id only (named holds the ids whose names it gives).
type touch struct {
	Touched
	parents []parentRef
	named   map[parentRef]bool
}

// touches applies the rules to one change of model ("device" or "dcim.device"), with the
// object as data (a webhook's data, a change record's changed_object) and its prechange
// and postchange snapshots, any of which may be nil.
func touches(model string, data, pre, post map[string]any) touch {
	if i := strings.LastIndexByte(model, '.'); i >= 0 {
		model = model[i+1:]
	}
	model = strings.ToLower(model)
	t := touch{named: map[parentRef]bool{}}
	switch p, isChild := parentKeys[model]; {
	case globalModels[model]:
		t.All = true
	case model == "device" || model == "virtualmachine":
		for _, m := range []map[string]any{data, pre, post} {
			t.add(str(m["name"]))
			if cf, ok := m["custom_fields"].(map[string]any); ok {
				t.add(str(cf[ciField]))
			}
		}
	case isChild:
		for _, m := range []map[string]any{data, pre, post} {
			switch parent := m[p.key].(type) {
			case map[string]any:
				t.add(str(parent["name"]))
				if id, ok := number(parent["id"]); ok {
					t.named[parentRef{p.kind, id}] = true
					t.parents = append(t.parents, parentRef{p.kind, id})
				}
			default:
				if id, ok := number(parent); ok {
					t.parents = append(t.parents, parentRef{p.kind, id})
				}
			}
		}
	}
	return t
}

// namesObjects reports whether model's changes name CIs through their object data.
func namesObjects(model string) bool {
	model = strings.ToLower(model[strings.LastIndexByte(model, '.')+1:])
	_, child := parentKeys[model]
	return child || model == "device" || model == "virtualmachine"
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func number(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), n == float64(int64(n))
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}
