package netbox

import (
	"encoding/json"
	"fmt"

	nb "github.com/netbox-community/go-netbox/v4"
)

// DocumentFromJSON derives the desired state document from one device or virtual machine
// as NetBox's API writes it (kind "dcim.device" or "virtualization.virtualmachine") and the
// list answer of its interfaces, for the worked example of SCHEMA.md.
func DocumentFromJSON(kind string, objectJSON, interfacesJSON []byte) (json.RawMessage, error) {
	var raw rawResult
	if err := json.Unmarshal(objectJSON, &raw); err != nil {
		return nil, err
	}
	var o object
	switch kind {
	case objDevice:
		var d nb.DeviceWithConfigContext
		if err := json.Unmarshal(objectJSON, &d); err != nil {
			return nil, err
		}
		o = deviceObject(d, raw)
	case objVM:
		var v nb.VirtualMachineWithConfigContext
		if err := json.Unmarshal(objectJSON, &v); err != nil {
			return nil, err
		}
		o = vmObject(v, raw)
	default:
		return nil, fmt.Errorf("kind %q", kind)
	}
	o.interfaces = map[string]iface{}
	if kind == objDevice {
		var page nb.PaginatedInterfaceList
		if err := json.Unmarshal(interfacesJSON, &page); err != nil {
			return nil, err
		}
		for _, i := range page.Results {
			o.interfaces[i.Name] = iface{enabled: i.GetEnabled(), mac: i.MacAddress.Get(), mtu: i.Mtu.Get()}
		}
	} else {
		var page nb.PaginatedVMInterfaceList
		if err := json.Unmarshal(interfacesJSON, &page); err != nil {
			return nil, err
		}
		for _, i := range page.Results {
			o.interfaces[i.Name] = iface{enabled: i.GetEnabled(), mac: i.MacAddress.Get(), mtu: i.Mtu.Get()}
		}
	}
	return document(o)
}
