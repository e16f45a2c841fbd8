package netboxfake

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// The functions here write objects in the forms NetBox 4.3's REST API uses; every answer
// built from them is checked against the OpenAPI document before it leaves the fake.

func apiURL(base, path string, id int) string { return fmt.Sprintf("%s/api/%s/%d/", base, path, id) }

func displayURL(base, path string, id int) string { return fmt.Sprintf("%s/%s/%d/", base, path, id) }

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

func label(v string) string {
	if v == "" {
		return v
	}
	r := []rune(v)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// labels are the choice labels NetBox writes where they are not the value capitalised.
var labels = map[string]string{
	"1000base-t": "1000BASE-T (1GE)", "10gbase-t": "10GBASE-T (10GE)", "virtual": "Virtual",
	"25gbase-x-sfp28": "SFP28 (25GE)", "lag": "Link Aggregation Group (LAG)",
	"longtext": "Text (long)", "boolean": "Boolean (true/false)", "datetime": "Date & time",
	"url": "URL", "json": "JSON", "select": "Selection", "multiselect": "Multiple selection",
	"object": "Object", "multiobject": "Multiple objects", "if-set": "If set",
}

func choice(v string) map[string]any {
	l, ok := labels[v]
	if !ok {
		l = label(v)
	}
	return map[string]any{"value": v, "label": l}
}

func (s *store) brief(base, kind, path, slug string) map[string]any {
	id := s.lookup(kind, slug)
	return map[string]any{
		"id": id, "url": apiURL(base, path, id), "display": slug,
		"name": slug, "slug": slug, "description": "",
	}
}

func (s *store) briefOrNil(base, kind, path, slug string) any {
	if slug == "" {
		return nil
	}
	return s.brief(base, kind, path, slug)
}

func (s *store) briefRole(base, slug string) map[string]any {
	b := s.brief(base, "role", "dcim/device-roles", slug)
	b["_depth"] = 0
	return b
}

func (s *store) briefDeviceType(base, slug string) map[string]any {
	id := s.lookup("devicetype", slug)
	return map[string]any{
		"id": id, "url": apiURL(base, "dcim/device-types", id), "display": slug,
		"manufacturer": s.brief(base, "manufacturer", "dcim/manufacturers", "generic"),
		"model":        slug, "slug": slug, "description": "",
	}
}

func (s *store) briefIP(base, addr string) any {
	if addr == "" {
		return nil
	}
	id := s.lookup("ipaddress", addr)
	family, lbl := 4, "IPv4"
	if p, err := netip.ParsePrefix(addr); err == nil && p.Addr().Is6() {
		family, lbl = 6, "IPv6"
	}
	return map[string]any{
		"id": id, "url": apiURL(base, "ipam/ip-addresses", id), "display": addr,
		"family":  map[string]any{"value": family, "label": lbl},
		"address": addr, "description": "",
	}
}

func is6(addr string) bool {
	p, err := netip.ParsePrefix(addr)
	return err == nil && p.Addr().Is6()
}

// customFields is the custom_fields object: every field defined for objectType, null when
// the object holds no value.
func (s *store) customFields(objectType string, values map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range s.fields {
		if slices.Contains(f.c.ObjectTypes, objectType) {
			out[f.c.Name] = values[f.c.Name]
		}
	}
	return out
}

// renderContext merges the config contexts that apply to the object, then its local context.
func (s *store) renderContext(site, role, platform string, local map[string]any) map[string]any {
	var cs []*ccRec
	for _, c := range s.contexts {
		if applies(c.c.Sites, site) && applies(c.c.Roles, role) && applies(c.c.Platforms, platform) {
			cs = append(cs, c)
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].c.Weight != cs[j].c.Weight {
			return cs[i].c.Weight < cs[j].c.Weight
		}
		return cs[i].c.Name < cs[j].c.Name
	})
	out := map[string]any{}
	for _, c := range cs {
		deepMerge(out, c.c.Data)
	}
	deepMerge(out, local)
	return out
}

func applies(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				deepMerge(dv, sv)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sv)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

func orNil[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func localContext(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func (s *store) countIfaces(m map[int]*ifaceRec, parent int) int {
	n := 0
	for _, i := range m {
		if i.parent == parent {
			n++
		}
	}
	return n
}

func (s *store) deviceAPI(base string, r *deviceRec) map[string]any {
	d := r.d
	ip := s.briefIP(base, d.PrimaryIP)
	var ip4, ip6 any
	if is6(d.PrimaryIP) {
		ip6 = ip
	} else {
		ip4 = ip
	}
	display := d.Name
	if display == "" {
		display = fmt.Sprintf("%s (%d)", d.DeviceType, r.id)
	}
	return map[string]any{
		"id": r.id, "url": apiURL(base, "dcim/devices", r.id),
		"display_url": displayURL(base, "dcim/devices", r.id), "display": display,
		"name":        orNil(d.Name),
		"device_type": s.briefDeviceType(base, d.DeviceType),
		"role":        s.briefRole(base, d.Role),
		"tenant":      nil,
		"platform":    s.briefOrNil(base, "platform", "dcim/platforms", d.Platform),
		"serial":      "", "asset_tag": nil,
		"site":     s.brief(base, "site", "dcim/sites", d.Site),
		"location": nil, "rack": nil, "position": nil,
		"latitude": nil, "longitude": nil, "parent_device": nil,
		"status":     choice(d.Status),
		"primary_ip": ip, "primary_ip4": ip4, "primary_ip6": ip6, "oob_ip": nil,
		"cluster": nil, "virtual_chassis": nil, "vc_position": nil, "vc_priority": nil,
		"description": "", "comments": "", "config_template": nil,
		"config_context":     s.renderContext(d.Site, d.Role, d.Platform, d.LocalContext),
		"local_context_data": localContext(d.LocalContext),
		"tags":               []any{},
		"custom_fields":      s.customFields("dcim.device", d.CustomFields),
		"created":            ts(r.created), "last_updated": ts(r.updated),
		"console_port_count": 0, "console_server_port_count": 0, "power_port_count": 0,
		"power_outlet_count": 0, "interface_count": s.countIfaces(s.ifaces, r.id),
		"front_port_count": 0, "rear_port_count": 0, "device_bay_count": 0,
		"module_bay_count": 0, "inventory_item_count": 0,
	}
}

func (s *store) deviceBrief(base string, r *deviceRec) map[string]any {
	display := r.d.Name
	if display == "" {
		display = fmt.Sprintf("%s (%d)", r.d.DeviceType, r.id)
	}
	return map[string]any{
		"id": r.id, "url": apiURL(base, "dcim/devices", r.id), "display": display,
		"name": orNil(r.d.Name), "description": "",
	}
}

// deviceSnapshot is the device as NetBox's serialize_object writes it into change records
// and webhook snapshots: related objects by id.
func (s *store) deviceSnapshot(r *deviceRec) map[string]any {
	d := r.d
	var ip4, ip6 any
	if d.PrimaryIP != "" {
		if is6(d.PrimaryIP) {
			ip6 = s.lookup("ipaddress", d.PrimaryIP)
		} else {
			ip4 = s.lookup("ipaddress", d.PrimaryIP)
		}
	}
	return map[string]any{
		"name": orNil(d.Name), "status": d.Status,
		"site": s.lookup("site", d.Site), "role": s.lookup("role", d.Role),
		"device_type": s.lookup("devicetype", d.DeviceType),
		"platform":    s.idOrNil("platform", d.Platform),
		"primary_ip4": ip4, "primary_ip6": ip6,
		"local_context_data": localContext(d.LocalContext),
		"custom_fields":      s.customFields("dcim.device", d.CustomFields),
		"tags":               []any{}, "description": "", "comments": "",
		"created": ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) idOrNil(kind, slug string) any {
	if slug == "" {
		return nil
	}
	return s.lookup(kind, slug)
}

func (s *store) vmAPI(base string, r *vmRec) map[string]any {
	v := r.v
	ip := s.briefIP(base, v.PrimaryIP)
	var ip4, ip6 any
	if is6(v.PrimaryIP) {
		ip6 = ip
	} else {
		ip4 = ip
	}
	var role any
	if v.Role != "" {
		role = s.briefRole(base, v.Role)
	}
	return map[string]any{
		"id": r.id, "url": apiURL(base, "virtualization/virtual-machines", r.id),
		"display_url": displayURL(base, "virtualization/virtual-machines", r.id),
		"display":     v.Name, "name": v.Name,
		"status":  choice(v.Status),
		"site":    s.briefOrNil(base, "site", "dcim/sites", v.Site),
		"cluster": nil, "device": nil, "serial": "", "role": role, "tenant": nil,
		"platform":   s.briefOrNil(base, "platform", "dcim/platforms", v.Platform),
		"primary_ip": ip, "primary_ip4": ip4, "primary_ip6": ip6,
		"vcpus":  orNil(v.VCPUs),
		"memory": orNil(v.MemoryMB), "disk": orNil(v.DiskMB),
		"description": "", "comments": "", "config_template": nil,
		"local_context_data": localContext(v.LocalContext),
		"tags":               []any{},
		"custom_fields":      s.customFields("virtualization.virtualmachine", v.CustomFields),
		"config_context":     s.renderContext(v.Site, v.Role, v.Platform, v.LocalContext),
		"created":            ts(r.created), "last_updated": ts(r.updated),
		"interface_count": s.countIfaces(s.vmifaces, r.id), "virtual_disk_count": 0,
	}
}

func (s *store) vmBrief(base string, r *vmRec) map[string]any {
	return map[string]any{
		"id": r.id, "url": apiURL(base, "virtualization/virtual-machines", r.id),
		"display": r.v.Name, "name": r.v.Name, "description": "",
	}
}

func (s *store) vmSnapshot(r *vmRec) map[string]any {
	v := r.v
	var ip4, ip6 any
	if v.PrimaryIP != "" {
		if is6(v.PrimaryIP) {
			ip6 = s.lookup("ipaddress", v.PrimaryIP)
		} else {
			ip4 = s.lookup("ipaddress", v.PrimaryIP)
		}
	}
	return map[string]any{
		"name": v.Name, "status": v.Status,
		"site": s.idOrNil("site", v.Site), "role": s.idOrNil("role", v.Role),
		"platform": s.idOrNil("platform", v.Platform), "cluster": nil,
		"primary_ip4": ip4, "primary_ip6": ip6,
		"vcpus": orNil(v.VCPUs), "memory": orNil(v.MemoryMB), "disk": orNil(v.DiskMB),
		"local_context_data": localContext(v.LocalContext),
		"custom_fields":      s.customFields("virtualization.virtualmachine", v.CustomFields),
		"tags":               []any{}, "description": "", "comments": "",
		"created": ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) macFields(base, mac string) (macAddr, primary any, all []any) {
	if mac == "" {
		return nil, nil, []any{}
	}
	mac = strings.ToUpper(mac)
	id := s.lookup("macaddress", mac)
	b := map[string]any{
		"id": id, "url": apiURL(base, "dcim/mac-addresses", id), "display": mac,
		"mac_address": mac, "description": "",
	}
	return mac, b, []any{b}
}

func (s *store) ifaceAPI(base string, r *ifaceRec) map[string]any {
	i := r.i
	mac, primary, all := s.macFields(base, i.MAC)
	return map[string]any{
		"id": r.id, "url": apiURL(base, "dcim/interfaces", r.id),
		"display_url": displayURL(base, "dcim/interfaces", r.id), "display": i.Name,
		"device": s.deviceBrief(base, s.devices[r.parent]),
		"vdcs":   []any{}, "module": nil, "name": i.Name, "label": "",
		"type":    choice(i.Type),
		"enabled": i.Enabled, "parent": nil, "bridge": nil, "lag": nil,
		"mtu":         orNil(i.MTU),
		"mac_address": mac, "primary_mac_address": primary, "mac_addresses": all,
		"speed": nil, "duplex": nil, "wwn": nil, "mgmt_only": false, "description": "",
		"rf_channel_frequency": nil, "rf_channel_width": nil, "tx_power": nil,
		"untagged_vlan": nil, "tagged_vlans": []any{}, "qinq_svlan": nil,
		"vlan_translation_policy": nil, "mark_connected": false, "cable": nil,
		"cable_end": "", "wireless_link": nil, "link_peers": []any{}, "link_peers_type": nil,
		"wireless_lans": []any{}, "vrf": nil, "connected_endpoints": nil,
		"connected_endpoints_type": nil, "connected_endpoints_reachable": false,
		"tags": []any{}, "custom_fields": map[string]any{},
		"created": ts(r.created), "last_updated": ts(r.updated),
		"count_ipaddresses": 0, "count_fhrp_groups": 0, "_occupied": false,
	}
}

func (s *store) ifaceBrief(base string, r *ifaceRec) map[string]any {
	return map[string]any{
		"id": r.id, "url": apiURL(base, "dcim/interfaces", r.id), "display": r.i.Name,
		"device": s.deviceBrief(base, s.devices[r.parent]),
		"name":   r.i.Name, "description": "", "cable": nil, "_occupied": false,
	}
}

func (s *store) ifaceSnapshot(r *ifaceRec, parentKey string) map[string]any {
	var mac any
	if r.i.MAC != "" {
		mac = s.lookup("macaddress", strings.ToUpper(r.i.MAC))
	}
	return map[string]any{
		parentKey: r.parent, "name": r.i.Name, "enabled": r.i.Enabled,
		"mtu": orNil(r.i.MTU), "primary_mac_address": mac,
		"custom_fields": map[string]any{}, "tags": []any{}, "description": "",
		"created": ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) vmIfaceAPI(base string, r *ifaceRec) map[string]any {
	i := r.i
	mac, primary, all := s.macFields(base, i.MAC)
	return map[string]any{
		"id": r.id, "url": apiURL(base, "virtualization/interfaces", r.id),
		"display_url":     displayURL(base, "virtualization/interfaces", r.id),
		"display":         i.Name,
		"virtual_machine": s.vmBrief(base, s.vms[r.parent]),
		"name":            i.Name, "enabled": i.Enabled, "parent": nil, "bridge": nil,
		"mtu":         orNil(i.MTU),
		"mac_address": mac, "primary_mac_address": primary, "mac_addresses": all,
		"description": "", "untagged_vlan": nil, "tagged_vlans": []any{},
		"qinq_svlan": nil, "vlan_translation_policy": nil, "vrf": nil, "l2vpn_termination": nil,
		"tags": []any{}, "custom_fields": map[string]any{},
		"created": ts(r.created), "last_updated": ts(r.updated),
		"count_ipaddresses": 0, "count_fhrp_groups": 0,
	}
}

func (s *store) vmIfaceBrief(base string, r *ifaceRec) map[string]any {
	return map[string]any{
		"id": r.id, "url": apiURL(base, "virtualization/interfaces", r.id), "display": r.i.Name,
		"virtual_machine": s.vmBrief(base, s.vms[r.parent]),
		"name":            r.i.Name, "description": "",
	}
}

func (s *store) contextAPI(base string, r *ccRec) map[string]any {
	c := r.c
	refs := func(kind, path string, slugs []string) []any {
		out := []any{}
		for _, slug := range slugs {
			out = append(out, s.brief(base, kind, path, slug))
		}
		return out
	}
	roles := []any{}
	for _, slug := range c.Roles {
		roles = append(roles, s.briefRole(base, slug))
	}
	return map[string]any{
		"id": r.id, "url": apiURL(base, "extras/config-contexts", r.id),
		"display_url": displayURL(base, "extras/config-contexts", r.id),
		"display":     c.Name, "name": c.Name, "weight": c.Weight, "description": "",
		"is_active": true, "regions": []any{}, "site_groups": []any{},
		"sites": refs("site", "dcim/sites", c.Sites), "locations": []any{},
		"device_types": []any{}, "roles": roles,
		"platforms":     refs("platform", "dcim/platforms", c.Platforms),
		"cluster_types": []any{}, "cluster_groups": []any{}, "clusters": []any{},
		"tenant_groups": []any{}, "tenants": []any{}, "tags": []string{},
		"data_source": nil, "data_path": nil, "data_file": nil, "data_synced": nil,
		"data":    c.Data,
		"created": ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) contextBrief(base string, r *ccRec) map[string]any {
	return map[string]any{
		"id": r.id, "url": apiURL(base, "extras/config-contexts", r.id),
		"display": r.c.Name, "name": r.c.Name, "description": "",
	}
}

func (s *store) contextSnapshot(r *ccRec) map[string]any {
	ids := func(kind string, slugs []string) []any {
		out := []any{}
		for _, slug := range slugs {
			out = append(out, s.lookup(kind, slug))
		}
		return out
	}
	return map[string]any{
		"name": r.c.Name, "weight": r.c.Weight, "is_active": true, "data": r.c.Data,
		"sites": ids("site", r.c.Sites), "roles": ids("role", r.c.Roles),
		"platforms": ids("platform", r.c.Platforms),
		"created":   ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) fieldAPI(base string, r *cfRec) map[string]any {
	c := r.c
	dataType := map[string]string{
		"text": "string", "longtext": "string", "url": "string", "select": "string",
		"integer": "integer", "decimal": "number", "boolean": "boolean", "json": "object",
		"date": "string", "datetime": "string", "multiselect": "array",
	}[c.Type]
	if dataType == "" {
		dataType = "string"
	}
	return map[string]any{
		"id": r.id, "url": apiURL(base, "extras/custom-fields", r.id),
		"display_url":  displayURL(base, "extras/custom-fields", r.id),
		"display":      c.Name,
		"object_types": c.ObjectTypes,
		"type":         choice(c.Type), "related_object_type": nil, "data_type": dataType,
		"name": c.Name, "label": "", "group_name": "", "description": "",
		"required": false, "unique": false, "search_weight": 1000,
		"filter_logic": choice(c.FilterLogic),
		"ui_visible":   choice("always"), "ui_editable": choice("yes"),
		"is_cloneable": false, "default": nil, "related_object_filter": nil,
		"weight": 100, "validation_minimum": nil, "validation_maximum": nil,
		"validation_regex": "", "choice_set": nil, "comments": "",
		"created": ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) fieldBrief(base string, r *cfRec) map[string]any {
	return map[string]any{
		"id": r.id, "url": apiURL(base, "extras/custom-fields", r.id),
		"display": r.c.Name, "name": r.c.Name, "description": "",
	}
}

func (s *store) fieldSnapshot(r *cfRec) map[string]any {
	return map[string]any{
		"name": r.c.Name, "type": r.c.Type, "object_types": r.c.ObjectTypes,
		"filter_logic": r.c.FilterLogic,
		"created":      ts(r.created), "last_updated": ts(r.updated),
	}
}

func (s *store) changeAPI(base, user string, c Change) map[string]any {
	var obj any
	if c.Brief != nil {
		obj = c.Brief
	}
	var pre, post any
	if c.Prechange != nil {
		pre = c.Prechange
	}
	if c.Postchange != nil {
		post = c.Postchange
	}
	repr := ""
	if c.Object != nil {
		repr, _ = c.Object["display"].(string)
	}
	return map[string]any{
		"id": c.ID, "url": apiURL(base, "core/object-changes", int(c.ID)),
		"display_url": displayURL(base, "core/object-changes", int(c.ID)),
		"display":     fmt.Sprintf("%s %s %s by %s", c.ObjectType, repr, c.Event(), user),
		"time":        ts(c.Time),
		"user": map[string]any{
			"id": 1, "url": apiURL(base, "users/users", 1), "display": user, "username": user,
		},
		"user_name": user, "request_id": c.RequestID,
		"action":              map[string]any{"value": c.Action, "label": label(c.Event())},
		"changed_object_type": c.ObjectType, "changed_object_id": c.ObjectID,
		"changed_object": obj, "prechange_data": pre, "postchange_data": post,
	}
}
