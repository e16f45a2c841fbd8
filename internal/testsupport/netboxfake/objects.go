package netboxfake

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Device is a dcim.device as a test describes it. Related objects (site, role, platform,
// device type, the primary IP address) are named by slug or address; the fake creates them
// on first use, without change records, as a fixture of the NetBox under test.
type Device struct {
	// Name is the device name; empty leaves it null, as NetBox allows.
	Name string
	// Status is the status value; default "active".
	Status string
	// Site and Role are slugs; defaults "dc1" and "server" (NetBox requires both).
	Site, Role string
	// DeviceType is the device type's slug; default "generic".
	DeviceType string
	// Platform is a platform slug; empty leaves it null.
	Platform string
	// PrimaryIP is an address with its prefix length ("10.0.0.5/24"); empty leaves it null.
	PrimaryIP string
	// LocalContext is local_context_data: it is merged last into the rendered config context.
	LocalContext map[string]any
	// CustomFields holds values of defined custom fields, by name; fields left out are null.
	CustomFields map[string]any
}

// VM is a virtualization.virtualmachine as a test describes it. Zero numbers are null.
type VM struct {
	// Name is required. Status defaults to "active". Site, Role and Platform are slugs and
	// PrimaryIP an address with its prefix length; each is null when empty.
	Name, Status, Site, Role, Platform, PrimaryIP string
	// VCPUs is vcpus (NetBox allows fractions); 0 is null.
	VCPUs float64
	// MemoryMB and DiskMB are memory and disk, in MB as NetBox 4.3 stores them; 0 is null.
	MemoryMB, DiskMB int
	// LocalContext and CustomFields are as for Device.
	LocalContext map[string]any
	CustomFields map[string]any
}

// Interface is a dcim.interface or a virtualization.vminterface.
type Interface struct {
	// Name is the interface name; Enabled its enabled flag.
	Name    string
	Enabled bool
	// MAC is the primary MAC address; empty leaves mac_address null.
	MAC string
	// MTU is 0 for null.
	MTU int
	// Type is the interface type of a device interface: "1000base-t" (the default),
	// "10gbase-t", "25gbase-x-sfp28", "virtual" or "lag".
	Type string
}

// ConfigContext is an extras.configcontext. It applies to an object when every non-empty
// assignment list contains the object's site, role and platform slug; rendering merges the
// contexts that apply in order of weight, then name, deeply, as NetBox does, and the object's
// local context last.
type ConfigContext struct {
	// Name names it; contexts of equal weight merge in order of name.
	Name string
	// Weight orders the contexts; default 1000.
	Weight int
	// Sites, Roles and Platforms are slugs the context is assigned to; empty is all.
	Sites, Roles, Platforms []string
	// Data is the context's data.
	Data map[string]any
}

// CustomField is an extras.customfield.
type CustomField struct {
	// Name is the field's name, as custom_fields and cf_<name> filters show it.
	Name string
	// Type is the type value ("text", "integer", "boolean", "json", ...); default "text".
	Type string
	// ObjectTypes are the models it applies to; default dcim.device and
	// virtualization.virtualmachine.
	ObjectTypes []string
	// FilterLogic is "loose" (the default; cf_<name> filters by case-insensitive
	// containment), "exact", or "disabled" (NetBox ignores the filter).
	FilterLogic string
}

// Change is one entry of the fake's change log, kept in the forms NetBox uses: Object is the
// object as the REST API shows it (a webhook's data; for a deletion, the object as it was),
// Brief its brief form (the change record's changed_object, null after deletion), and
// Prechange and Postchange its serialized snapshots, in which related objects are ids.
type Change struct {
	// ID orders the log, from 1.
	ID        int64
	Time      time.Time
	RequestID string
	// Action is "create", "update" or "delete".
	Action string
	// ObjectType is app_label.model, as "dcim.device"; ObjectID the object's id.
	ObjectType            string
	ObjectID              int
	Object, Brief         map[string]any
	Prechange, Postchange map[string]any
}

// Model is the object's model name as webhooks name it ("device", "vminterface").
func (c Change) Model() string {
	_, m, _ := strings.Cut(c.ObjectType, ".")
	return m
}

// Event is the webhook event of the change ("created", "updated", "deleted").
func (c Change) Event() string { return c.Action + "d" }

type deviceRec struct {
	id               int
	d                Device
	created, updated time.Time
}

type vmRec struct {
	id               int
	v                VM
	created, updated time.Time
}

type ifaceRec struct {
	id               int
	parent           int // device or virtual machine id
	i                Interface
	created, updated time.Time
}

type ccRec struct {
	id               int
	c                ConfigContext
	created, updated time.Time
}

type cfRec struct {
	id               int
	c                CustomField
	created, updated time.Time
}

// store is the fake's database; the Server's mutex guards it.
type store struct {
	now      func() time.Time
	seq      map[string]int
	devices  map[int]*deviceRec
	vms      map[int]*vmRec
	ifaces   map[int]*ifaceRec // dcim.interface
	vmifaces map[int]*ifaceRec // virtualization.vminterface
	contexts map[int]*ccRec
	fields   map[int]*cfRec
	// lookups are the related objects created on first use: kind -> slug or address -> id.
	lookups map[string]map[string]int
	changes []Change
}

func newStore(now func() time.Time) *store {
	return &store{
		now:      now,
		seq:      map[string]int{},
		devices:  map[int]*deviceRec{},
		vms:      map[int]*vmRec{},
		ifaces:   map[int]*ifaceRec{},
		vmifaces: map[int]*ifaceRec{},
		contexts: map[int]*ccRec{},
		fields:   map[int]*cfRec{},
		lookups:  map[string]map[string]int{},
	}
}

func (s *store) next(kind string) int {
	s.seq[kind]++
	return s.seq[kind]
}

func (s *store) lookup(kind, key string) int {
	m := s.lookups[kind]
	if m == nil {
		m = map[string]int{}
		s.lookups[kind] = m
	}
	if id, ok := m[key]; ok {
		return id
	}
	id := s.next(kind)
	m[key] = id
	return id
}

func (d *Device) setDefaults() {
	if d.Status == "" {
		d.Status = "active"
	}
	if d.Site == "" {
		d.Site = "dc1"
	}
	if d.Role == "" {
		d.Role = "server"
	}
	if d.DeviceType == "" {
		d.DeviceType = "generic"
	}
}

func (v *VM) setDefaults() {
	if v.Status == "" {
		v.Status = "active"
	}
}

func (i *Interface) setDefaults() {
	if i.Type == "" {
		i.Type = "1000base-t"
	}
}

func (c *ConfigContext) setDefaults() {
	if c.Weight == 0 {
		c.Weight = 1000
	}
}

func (c *CustomField) setDefaults() {
	if c.Type == "" {
		c.Type = "text"
	}
	if len(c.ObjectTypes) == 0 {
		c.ObjectTypes = []string{"dcim.device", "virtualization.virtualmachine"}
	}
	if c.FilterLogic == "" {
		c.FilterLogic = "loose"
	}
}

var deviceStatuses = []string{"offline", "active", "planned", "staged", "failed", "inventory", "decommissioning"}
var vmStatuses = []string{"offline", "active", "planned", "staged", "failed", "decommissioning", "paused"}

// checkObject refuses what NetBox's own validation would refuse.
func (s *store) checkObject(objectType, status string, statuses []string, ip string, cf map[string]any) error {
	if !slices.Contains(statuses, status) {
		return fmt.Errorf("status %q is not one of %v", status, statuses)
	}
	if ip != "" {
		if _, err := netip.ParsePrefix(ip); err != nil {
			return fmt.Errorf("primary ip %q: %w", ip, err)
		}
	}
	for name := range cf {
		if !s.fieldApplies(name, objectType) {
			return fmt.Errorf("custom field %q is not defined for %s", name, objectType)
		}
	}
	return nil
}

func (s *store) fieldApplies(name, objectType string) bool {
	for _, f := range s.fields {
		if f.c.Name == name && slices.Contains(f.c.ObjectTypes, objectType) {
			return true
		}
	}
	return false
}

// record appends a change; obj and brief are the API forms, pre and post the snapshots.
func (s *store) record(action, objectType string, id int, obj, brief, pre, post map[string]any) Change {
	c := Change{
		ID:         int64(s.next("objectchange")),
		Time:       s.now(),
		RequestID:  uuid.NewString(),
		Action:     action,
		ObjectType: objectType,
		ObjectID:   id,
		Object:     obj,
		Brief:      brief,
		Prechange:  pre,
		Postchange: post,
	}
	s.changes = append(s.changes, c)
	return c
}

// clone copies m deeply, so that a test changing its own map later does not change the
// fake's objects.
func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return clone(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
