package netboxfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// item is one object of a list answer with what its filters and orderings look at.
type item struct {
	id   int64
	name string
	// parent is the device or virtual machine of an interface.
	parent int
	obj    map[string]any
	// cf are the object's custom field values, for cf_<name> filters.
	cf         map[string]any
	objectType string
	time       string
}

func (s *Server) route(r *http.Request) (int, []byte) {
	q := r.URL.Query()
	base := "http://" + r.Host
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	var items []item
	switch r.URL.Path {
	case "/api/status/":
		b, _ := json.Marshal(map[string]any{
			"django-version": "5.2.1", "installed-apps": map[string]any{},
			"netbox-version": "4.3.0", "netbox-full-version": "4.3.0-Docker-3.3.0",
			"plugins": map[string]any{}, "python-version": "3.12.3", "rq-workers-running": 1,
		})
		return http.StatusOK, b
	case "/api/dcim/devices/":
		for _, d := range st.devices {
			items = append(items, item{id: int64(d.id), name: d.d.Name, obj: st.deviceAPI(base, d), cf: d.d.CustomFields, objectType: "dcim.device"})
		}
		items = filterObjects(st, items, q, "dcim.device")
	case "/api/virtualization/virtual-machines/":
		for _, v := range st.vms {
			items = append(items, item{id: int64(v.id), name: v.v.Name, obj: st.vmAPI(base, v), cf: v.v.CustomFields, objectType: "virtualization.virtualmachine"})
		}
		items = filterObjects(st, items, q, "virtualization.virtualmachine")
	case "/api/dcim/interfaces/":
		for _, i := range st.ifaces {
			items = append(items, item{id: int64(i.id), name: i.i.Name, parent: i.parent, obj: st.ifaceAPI(base, i)})
		}
		items = filterInts(items, q["device_id"], func(it item) int64 { return int64(it.parent) })
		orderInterfaces(items)
		if o := q.Get("ordering"); o != "" && !orderBy(items, o) {
			return http.StatusBadRequest, apiError(fmt.Sprintf("unsupported ordering %q", o))
		}
	case "/api/virtualization/interfaces/":
		for _, i := range st.vmifaces {
			items = append(items, item{id: int64(i.id), name: i.i.Name, parent: i.parent, obj: st.vmIfaceAPI(base, i)})
		}
		items = filterInts(items, q["virtual_machine_id"], func(it item) int64 { return int64(it.parent) })
		orderInterfaces(items)
		if o := q.Get("ordering"); o != "" && !orderBy(items, o) {
			return http.StatusBadRequest, apiError(fmt.Sprintf("unsupported ordering %q", o))
		}
	case "/api/extras/custom-fields/":
		for _, f := range st.fields {
			items = append(items, item{id: int64(f.id), name: f.c.Name, obj: st.fieldAPI(base, f)})
		}
		items = filterNames(items, q["name"])
		orderBy(items, "name")
	case "/api/core/object-changes/":
		for _, c := range st.changes {
			items = append(items, item{id: c.ID, obj: st.changeAPI(base, s.opts.User, c), objectType: c.ObjectType, time: ts(c.Time)})
		}
		items = filterInts(items, q["id"], func(it item) int64 { return it.id })
		items = filterBound(items, q["id__gt"], func(id, bound int64) bool { return id > bound })
		items = filterBound(items, q["id__gte"], func(id, bound int64) bool { return id >= bound })
		items = filterBound(items, q["id__lt"], func(id, bound int64) bool { return id < bound })
		if t := q.Get("changed_object_type"); t != "" {
			items = slices.DeleteFunc(items, func(it item) bool { return it.objectType != t })
		}
		ordering := q.Get("ordering")
		if ordering == "" {
			ordering = "-time"
		}
		if !orderBy(items, ordering) {
			return http.StatusBadRequest, apiError(fmt.Sprintf("unsupported ordering %q", ordering))
		}
	default:
		return http.StatusNotFound, apiError("Not found.")
	}
	return s.paginate(r, base, items)
}

// filterObjects applies the device and virtual machine filters: name, id and cf_<name>.
func filterObjects(st *store, items []item, q url.Values, objectType string) []item {
	items = filterNames(items, q["name"])
	items = filterInts(items, q["id"], func(it item) int64 { return it.id })
	for key, values := range q {
		name, ok := strings.CutPrefix(key, "cf_")
		if !ok {
			continue
		}
		var field *cfRec
		for _, f := range st.fields {
			if f.c.Name == name && slices.Contains(f.c.ObjectTypes, objectType) {
				field = f
			}
		}
		// NetBox ignores filters it does not know, and those of fields whose filter logic
		// is disabled.
		if field == nil || field.c.FilterLogic == "disabled" {
			continue
		}
		items = slices.DeleteFunc(items, func(it item) bool {
			v, ok := it.cf[name]
			if !ok || v == nil {
				return true
			}
			got := fmt.Sprint(v)
			for _, want := range values {
				if field.c.FilterLogic == "exact" && got == want {
					return false
				}
				if field.c.FilterLogic == "loose" && strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
					return false
				}
			}
			return true
		})
	}
	ordering := q.Get("ordering")
	if ordering == "" || !orderBy(items, ordering) {
		orderBy(items, "name")
	}
	return items
}

func filterNames(items []item, names []string) []item {
	if len(names) == 0 {
		return items
	}
	return slices.DeleteFunc(items, func(it item) bool { return !slices.Contains(names, it.name) })
}

func filterInts(items []item, values []string, key func(item) int64) []item {
	if len(values) == 0 {
		return items
	}
	var want []int64
	for _, v := range values {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			want = append(want, n)
		}
	}
	return slices.DeleteFunc(items, func(it item) bool { return !slices.Contains(want, key(it)) })
}

func filterBound(items []item, values []string, keep func(id, bound int64) bool) []item {
	for _, v := range values {
		bound, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		items = slices.DeleteFunc(items, func(it item) bool { return !keep(it.id, bound) })
	}
	return items
}

func orderInterfaces(items []item) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].parent != items[j].parent {
			return items[i].parent < items[j].parent
		}
		if items[i].name != items[j].name {
			return items[i].name < items[j].name
		}
		return items[i].id < items[j].id
	})
}

// orderBy sorts by one of the orderings the fake knows, ties broken by id; it reports
// whether it knew the ordering.
func orderBy(items []item, ordering string) bool {
	field, desc := strings.CutPrefix(ordering, "-")
	var less func(a, b item) int
	switch field {
	case "id":
		less = func(a, b item) int { return cmpInt(a.id, b.id) }
	case "name":
		less = func(a, b item) int {
			if c := strings.Compare(a.name, b.name); c != 0 {
				return c
			}
			return cmpInt(a.id, b.id)
		}
	case "time":
		less = func(a, b item) int {
			if c := strings.Compare(a.time, b.time); c != 0 {
				return c
			}
			return cmpInt(a.id, b.id)
		}
	default:
		return false
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if desc {
			return less(b, a)
		}
		return less(a, b)
	})
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// paginate answers one page as NetBox's LimitOffsetPagination does: count, next and
// previous as absolute URLs (null at the ends), results.
func (s *Server) paginate(r *http.Request, base string, items []item) (int, []byte) {
	q := r.URL.Query()
	limit := s.opts.PageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return http.StatusBadRequest, apiError("limit: must be a non-negative integer")
		}
		limit = n
		if n == 0 || n > s.opts.MaxPageSize {
			limit = s.opts.MaxPageSize
		}
	}
	offset := 0
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return http.StatusBadRequest, apiError("offset: must be a non-negative integer")
		}
		offset = n
	}
	count := len(items)
	end := min(offset+limit, count)
	results := []any{}
	for i := offset; i < end; i++ {
		results = append(results, items[i].obj)
	}
	page := func(off int) string {
		qq := r.URL.Query()
		qq.Set("limit", strconv.Itoa(limit))
		if off > 0 {
			qq.Set("offset", strconv.Itoa(off))
		} else {
			qq.Del("offset")
		}
		return base + r.URL.Path + "?" + qq.Encode()
	}
	var next, prev any
	if offset+limit < count {
		next = page(offset + limit)
	}
	if offset > 0 {
		prev = page(max(offset-limit, 0))
	}
	b, err := json.Marshal(map[string]any{"count": count, "next": next, "previous": prev, "results": results})
	if err != nil {
		return http.StatusInternalServerError, apiError(err.Error())
	}
	return http.StatusOK, b
}
