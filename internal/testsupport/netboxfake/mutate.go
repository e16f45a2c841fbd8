package netboxfake

import "slices"

// The methods here change the fake's objects as NetBox's UI or API would, and record each
// change in the change log (core.objectchange) with the snapshots NetBox writes. The base
// URL of the API forms kept in a Change is the fake's own.

func (s *Server) base() string { return s.http.URL }

// AddDevice creates a device and returns its id.
func (s *Server) AddDevice(d Device) int {
	s.t.Helper()
	d.setDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.checkObject("dcim.device", d.Status, deviceStatuses, d.PrimaryIP, d.CustomFields); err != nil {
		s.t.Fatalf("netboxfake: add device %q: %v", d.Name, err)
	}
	now := s.st.now()
	r := &deviceRec{id: s.st.next("device"), d: cloneDevice(d), created: now, updated: now}
	s.st.devices[r.id] = r
	s.st.record("create", "dcim.device", r.id, s.st.deviceAPI(s.base(), r), s.st.deviceBrief(s.base(), r), nil, s.st.deviceSnapshot(r))
	return r.id
}

// UpdateDevice changes device id with change and records the update.
func (s *Server) UpdateDevice(id int, change func(*Device)) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.devices[id]
	if !ok {
		s.t.Fatalf("netboxfake: update device %d: no such device", id)
	}
	pre := s.st.deviceSnapshot(r)
	d := cloneDevice(r.d)
	change(&d)
	d.setDefaults()
	if err := s.st.checkObject("dcim.device", d.Status, deviceStatuses, d.PrimaryIP, d.CustomFields); err != nil {
		s.t.Fatalf("netboxfake: update device %d: %v", id, err)
	}
	r.d, r.updated = d, s.st.now()
	s.st.record("update", "dcim.device", id, s.st.deviceAPI(s.base(), r), s.st.deviceBrief(s.base(), r), pre, s.st.deviceSnapshot(r))
}

// DeleteDevice deletes device id and, first, its interfaces, as NetBox's cascade does.
func (s *Server) DeleteDevice(id int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.devices[id]
	if !ok {
		s.t.Fatalf("netboxfake: delete device %d: no such device", id)
	}
	for _, iid := range sortedIDs(s.st.ifaces) {
		if i := s.st.ifaces[iid]; i.parent == id {
			s.deleteIfaceLocked("dcim.interface", i)
		}
	}
	obj := s.st.deviceAPI(s.base(), r)
	pre := s.st.deviceSnapshot(r)
	delete(s.st.devices, id)
	s.st.record("delete", "dcim.device", id, obj, nil, pre, nil)
}

// AddVM creates a virtual machine and returns its id.
func (s *Server) AddVM(v VM) int {
	s.t.Helper()
	v.setDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.checkObject("virtualization.virtualmachine", v.Status, vmStatuses, v.PrimaryIP, v.CustomFields); err != nil {
		s.t.Fatalf("netboxfake: add virtual machine %q: %v", v.Name, err)
	}
	if v.Name == "" {
		s.t.Fatalf("netboxfake: add virtual machine: name required")
	}
	now := s.st.now()
	r := &vmRec{id: s.st.next("virtualmachine"), v: cloneVM(v), created: now, updated: now}
	s.st.vms[r.id] = r
	s.st.record("create", "virtualization.virtualmachine", r.id, s.st.vmAPI(s.base(), r), s.st.vmBrief(s.base(), r), nil, s.st.vmSnapshot(r))
	return r.id
}

// UpdateVM changes virtual machine id with change and records the update.
func (s *Server) UpdateVM(id int, change func(*VM)) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.vms[id]
	if !ok {
		s.t.Fatalf("netboxfake: update virtual machine %d: no such virtual machine", id)
	}
	pre := s.st.vmSnapshot(r)
	v := cloneVM(r.v)
	change(&v)
	v.setDefaults()
	if err := s.st.checkObject("virtualization.virtualmachine", v.Status, vmStatuses, v.PrimaryIP, v.CustomFields); err != nil {
		s.t.Fatalf("netboxfake: update virtual machine %d: %v", id, err)
	}
	r.v, r.updated = v, s.st.now()
	s.st.record("update", "virtualization.virtualmachine", id, s.st.vmAPI(s.base(), r), s.st.vmBrief(s.base(), r), pre, s.st.vmSnapshot(r))
}

// DeleteVM deletes virtual machine id and, first, its interfaces.
func (s *Server) DeleteVM(id int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.vms[id]
	if !ok {
		s.t.Fatalf("netboxfake: delete virtual machine %d: no such virtual machine", id)
	}
	for _, iid := range sortedIDs(s.st.vmifaces) {
		if i := s.st.vmifaces[iid]; i.parent == id {
			s.deleteIfaceLocked("virtualization.vminterface", i)
		}
	}
	obj := s.st.vmAPI(s.base(), r)
	pre := s.st.vmSnapshot(r)
	delete(s.st.vms, id)
	s.st.record("delete", "virtualization.virtualmachine", id, obj, nil, pre, nil)
}

// AddDeviceInterface creates a dcim.interface on device and returns its id.
func (s *Server) AddDeviceInterface(device int, i Interface) int {
	s.t.Helper()
	i.setDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.devices[device]; !ok {
		s.t.Fatalf("netboxfake: add interface %q: no device %d", i.Name, device)
	}
	if _, ok := labels[i.Type]; !ok {
		s.t.Fatalf("netboxfake: add interface %q: type %q is not one the fake knows", i.Name, i.Type)
	}
	now := s.st.now()
	r := &ifaceRec{id: s.st.next("interface"), parent: device, i: i, created: now, updated: now}
	s.st.ifaces[r.id] = r
	s.st.record("create", "dcim.interface", r.id, s.st.ifaceAPI(s.base(), r), s.st.ifaceBrief(s.base(), r), nil, s.st.ifaceSnapshot(r, "device"))
	return r.id
}

// UpdateDeviceInterface changes dcim.interface id; change may move it to another device.
func (s *Server) UpdateDeviceInterface(id int, change func(device *int, i *Interface)) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.ifaces[id]
	if !ok {
		s.t.Fatalf("netboxfake: update interface %d: no such interface", id)
	}
	pre := s.st.ifaceSnapshot(r, "device")
	parent, i := r.parent, r.i
	change(&parent, &i)
	if _, ok := s.st.devices[parent]; !ok {
		s.t.Fatalf("netboxfake: update interface %d: no device %d", id, parent)
	}
	i.setDefaults()
	r.parent, r.i, r.updated = parent, i, s.st.now()
	s.st.record("update", "dcim.interface", id, s.st.ifaceAPI(s.base(), r), s.st.ifaceBrief(s.base(), r), pre, s.st.ifaceSnapshot(r, "device"))
}

// DeleteDeviceInterface deletes dcim.interface id.
func (s *Server) DeleteDeviceInterface(id int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.ifaces[id]
	if !ok {
		s.t.Fatalf("netboxfake: delete interface %d: no such interface", id)
	}
	s.deleteIfaceLocked("dcim.interface", r)
}

// AddVMInterface creates a virtualization.vminterface on virtual machine vm.
func (s *Server) AddVMInterface(vm int, i Interface) int {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.vms[vm]; !ok {
		s.t.Fatalf("netboxfake: add interface %q: no virtual machine %d", i.Name, vm)
	}
	now := s.st.now()
	r := &ifaceRec{id: s.st.next("vminterface"), parent: vm, i: i, created: now, updated: now}
	s.st.vmifaces[r.id] = r
	s.st.record("create", "virtualization.vminterface", r.id, s.st.vmIfaceAPI(s.base(), r), s.st.vmIfaceBrief(s.base(), r), nil, s.st.ifaceSnapshot(r, "virtual_machine"))
	return r.id
}

// UpdateVMInterface changes virtualization.vminterface id.
func (s *Server) UpdateVMInterface(id int, change func(vm *int, i *Interface)) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.vmifaces[id]
	if !ok {
		s.t.Fatalf("netboxfake: update vm interface %d: no such interface", id)
	}
	pre := s.st.ifaceSnapshot(r, "virtual_machine")
	parent, i := r.parent, r.i
	change(&parent, &i)
	if _, ok := s.st.vms[parent]; !ok {
		s.t.Fatalf("netboxfake: update vm interface %d: no virtual machine %d", id, parent)
	}
	r.parent, r.i, r.updated = parent, i, s.st.now()
	s.st.record("update", "virtualization.vminterface", id, s.st.vmIfaceAPI(s.base(), r), s.st.vmIfaceBrief(s.base(), r), pre, s.st.ifaceSnapshot(r, "virtual_machine"))
}

// DeleteVMInterface deletes virtualization.vminterface id.
func (s *Server) DeleteVMInterface(id int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.vmifaces[id]
	if !ok {
		s.t.Fatalf("netboxfake: delete vm interface %d: no such interface", id)
	}
	s.deleteIfaceLocked("virtualization.vminterface", r)
}

func (s *Server) deleteIfaceLocked(objectType string, r *ifaceRec) {
	if objectType == "dcim.interface" {
		obj, pre := s.st.ifaceAPI(s.base(), r), s.st.ifaceSnapshot(r, "device")
		delete(s.st.ifaces, r.id)
		s.st.record("delete", objectType, r.id, obj, nil, pre, nil)
		return
	}
	obj, pre := s.st.vmIfaceAPI(s.base(), r), s.st.ifaceSnapshot(r, "virtual_machine")
	delete(s.st.vmifaces, r.id)
	s.st.record("delete", objectType, r.id, obj, nil, pre, nil)
}

// AddConfigContext creates a config context and returns its id.
func (s *Server) AddConfigContext(c ConfigContext) int {
	s.t.Helper()
	c.setDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.st.now()
	r := &ccRec{id: s.st.next("configcontext"), c: c, created: now, updated: now}
	s.st.contexts[r.id] = r
	s.st.record("create", "extras.configcontext", r.id, s.st.contextAPI(s.base(), r), s.st.contextBrief(s.base(), r), nil, s.st.contextSnapshot(r))
	return r.id
}

// UpdateConfigContext changes config context id.
func (s *Server) UpdateConfigContext(id int, change func(*ConfigContext)) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.contexts[id]
	if !ok {
		s.t.Fatalf("netboxfake: update config context %d: no such config context", id)
	}
	pre := s.st.contextSnapshot(r)
	c := r.c
	change(&c)
	c.setDefaults()
	r.c, r.updated = c, s.st.now()
	s.st.record("update", "extras.configcontext", id, s.st.contextAPI(s.base(), r), s.st.contextBrief(s.base(), r), pre, s.st.contextSnapshot(r))
}

// DeleteConfigContext deletes config context id.
func (s *Server) DeleteConfigContext(id int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.contexts[id]
	if !ok {
		s.t.Fatalf("netboxfake: delete config context %d: no such config context", id)
	}
	obj, pre := s.st.contextAPI(s.base(), r), s.st.contextSnapshot(r)
	delete(s.st.contexts, id)
	s.st.record("delete", "extras.configcontext", id, obj, nil, pre, nil)
}

// AddCustomField defines a custom field and returns its id. Objects of its types show it,
// null, from now on.
func (s *Server) AddCustomField(c CustomField) int {
	s.t.Helper()
	c.setDefaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.st.fields {
		if f.c.Name == c.Name {
			s.t.Fatalf("netboxfake: add custom field %q: a custom field with this name exists", c.Name)
		}
	}
	now := s.st.now()
	r := &cfRec{id: s.st.next("customfield"), c: c, created: now, updated: now}
	s.st.fields[r.id] = r
	s.st.record("create", "extras.customfield", r.id, s.st.fieldAPI(s.base(), r), s.st.fieldBrief(s.base(), r), nil, s.st.fieldSnapshot(r))
	return r.id
}

// DeleteCustomField deletes custom field id and its values on every object.
func (s *Server) DeleteCustomField(id int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.fields[id]
	if !ok {
		s.t.Fatalf("netboxfake: delete custom field %d: no such custom field", id)
	}
	obj, pre := s.st.fieldAPI(s.base(), r), s.st.fieldSnapshot(r)
	delete(s.st.fields, id)
	for _, d := range s.st.devices {
		delete(d.d.CustomFields, r.c.Name)
	}
	for _, v := range s.st.vms {
		delete(v.v.CustomFields, r.c.Name)
	}
	s.st.record("delete", "extras.customfield", id, obj, nil, pre, nil)
}

// Changes returns the change log, oldest first.
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.st.changes...)
}

// LastChange returns the newest change; it fails the test when there is none.
func (s *Server) LastChange() Change {
	s.t.Helper()
	cs := s.Changes()
	if len(cs) == 0 {
		s.t.Fatalf("netboxfake: no change recorded")
	}
	return cs[len(cs)-1]
}

// LastChangeID is the id of the newest change, 0 when there is none.
func (s *Server) LastChangeID() int64 {
	cs := s.Changes()
	if len(cs) == 0 {
		return 0
	}
	return cs[len(cs)-1].ID
}

func cloneDevice(d Device) Device {
	d.LocalContext, d.CustomFields = clone(d.LocalContext), clone(d.CustomFields)
	return d
}

func cloneVM(v VM) VM {
	v.LocalContext, v.CustomFields = clone(v.LocalContext), clone(v.CustomFields)
	return v
}

func sortedIDs(m map[int]*ifaceRec) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
