package netbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Custom fields with a meaning of their own (see SCHEMA.md).
const (
	fieldPrefix  = "driftwatch_"
	desiredField = "driftwatch_desired"
	contextKey   = "driftwatch"
)

// document derives the desired state document of o, in canonical form, as SCHEMA.md says:
// NetBox's own fields first, then the driftwatch key of the config context merged in, then
// the driftwatch_<key> custom fields, then the driftwatch_desired custom field merged in.
func document(o object) (json.RawMessage, error) {
	doc := map[string]any{}
	switch o.status {
	case "active":
		doc["power_state"] = "running"
	case "offline":
		doc["power_state"] = "stopped"
	}
	for k, v := range map[string]string{"platform": o.platform, "site": o.site, "role": o.role} {
		if v != "" {
			doc[k] = v
		}
	}
	if o.ip != "" {
		addr, _, _ := strings.Cut(o.ip, "/")
		doc["primary_ip"] = addr
	}
	if o.kind == objVM {
		if o.vcpus != nil {
			doc["vcpus"] = json.Number(strconv.FormatFloat(*o.vcpus, 'f', -1, 64))
		}
		if o.memory != nil {
			doc["memory_mb"] = *o.memory
		}
		if o.disk != nil {
			doc["disk_gb"] = json.Number(megabytesToGigabytes(*o.disk))
		}
	}
	if len(o.interfaces) > 0 {
		ifaces := map[string]any{}
		for name, i := range o.interfaces {
			e := map[string]any{"enabled": i.enabled}
			if i.mac != nil && *i.mac != "" {
				e["mac_address"] = strings.ToLower(*i.mac)
			}
			if i.mtu != nil {
				e["mtu"] = *i.mtu
			}
			ifaces[name] = e
		}
		doc["interfaces"] = ifaces
	}

	custom, keys := map[string]any{}, map[string]any{}
	var desired map[string]any
	names := make([]string, 0, len(o.customFields))
	for name := range o.customFields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := decode(o.customFields[name])
		if err != nil {
			return nil, fmt.Errorf("custom_fields.%s: %w", name, err)
		}
		switch key, own := strings.CutPrefix(name, fieldPrefix); {
		case v == nil || name == ciField:
		case name == desiredField:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("custom_fields.%s: must be a JSON object, got %s", name, kindOf(v))
			}
			desired = m
		case own && key != "":
			keys[key] = v
		default:
			custom[name] = v
		}
	}
	if len(custom) > 0 {
		doc["custom_fields"] = custom
	}

	if cc, err := decode(o.configContext); err != nil {
		return nil, fmt.Errorf("config_context: %w", err)
	} else if cc != nil {
		m, ok := cc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config_context: must be a JSON object, got %s", kindOf(cc))
		}
		if dw, present := m[contextKey]; present && dw != nil {
			dm, ok := dw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("config_context.%s: must be a JSON object, got %s", contextKey, kindOf(dw))
			}
			merge(doc, dm)
		}
	}
	for k, v := range keys {
		doc[k] = v
	}
	merge(doc, desired)

	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode desired state: %w", err)
	}
	return drift.Canonical(b)
}

// decode reads raw keeping numbers as written; absent is nil.
func decode(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// merge merges src into dst: objects member by member, recursively; any other value
// replaces what dst holds.
func merge(dst, src map[string]any) {
	for k, v := range src {
		sv, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		dv, ok := dst[k].(map[string]any)
		if !ok {
			dv = map[string]any{}
			dst[k] = dv
		}
		merge(dv, sv)
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return "an object"
}

// megabytesToGigabytes converts NetBox 4.3's MB to GB exactly, in SI units (1 GB = 1000 MB,
// as NetBox's own 4.1 migration from GB to MB counted).
func megabytesToGigabytes(mb int32) string {
	q, r := mb/1000, mb%1000
	if r == 0 {
		return strconv.Itoa(int(q))
	}
	return strings.TrimRight(fmt.Sprintf("%d.%03d", q, r), "0")
}
