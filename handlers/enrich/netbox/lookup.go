package netbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	nb "github.com/netbox-community/go-netbox/v4"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// The NetBox object types a CI can be.
const (
	objDevice = "dcim.device"
	objVM     = "virtualization.virtualmachine"
)

// ciField is the custom field that names a CI explicitly.
const ciField = "driftwatch_ci"

// object is the part of a device or virtual machine the desired state is made of. The
// config context and custom fields are kept as NetBox wrote them (go-netbox decodes them
// into float64s, which would change large or exact numbers).
type object struct {
	kind, name, status       string
	id                       int32
	platform, site, role, ip string
	vcpus                    *float64
	memory, disk             *int32
	configContext            json.RawMessage
	customFields             map[string]json.RawMessage
	interfaces               map[string]iface
}

type iface struct {
	enabled bool
	mac     *string
	mtu     *int32
}

// rawResult is what is read again from an answer's body, exactly as written.
type rawResult struct {
	ID            int64                      `json:"id"`
	ConfigContext json.RawMessage            `json:"config_context"`
	CustomFields  map[string]json.RawMessage `json:"custom_fields"`
}

// pages reads every page of a list. fetch gets the page at limit and offset and reports the
// number of results on it and whether NetBox names a next page; its errors are classified
// already (see classify).
func (s *Source) pages(fetch func(limit, offset int32) (n int, more bool, err error)) error {
	var offset int32
	for {
		n, more, err := fetch(int32(s.cfg.PageSize), offset)
		if err != nil {
			return err
		}
		offset += int32(n)
		if !more || n == 0 {
			return nil
		}
	}
}

// rawResults decodes the results of a list answer again, by id.
func rawResults(what string, resp *http.Response) (map[int64]rawResult, error) {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("netbox %s: read answer: %w", what, err)
	}
	var page struct {
		Results []rawResult `json:"results"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fault.Permanent(fmt.Errorf("netbox %s: the answer does not match NetBox's schema: %w", what, err))
	}
	out := make(map[int64]rawResult, len(page.Results))
	for _, r := range page.Results {
		out[r.ID] = r
	}
	return out, nil
}

// ciFieldKinds reports which kinds the custom field driftwatch_ci is defined for and
// filterable on; it is read once per CacheTTL.
func (s *Source) ciFieldKinds(ctx context.Context) (map[string]bool, error) {
	s.mu.Lock()
	if s.ciKinds != nil && s.now().Before(s.ciKindsExp) {
		defer s.mu.Unlock()
		return s.ciKinds, nil
	}
	s.mu.Unlock()
	kinds := map[string]bool{}
	what := fmt.Sprintf("list extras.customfield name=%q", ciField)
	err := s.pages(func(limit, offset int32) (int, bool, error) {
		page, resp, err := s.api.ExtrasAPI.ExtrasCustomFieldsList(ctx).Name([]string{ciField}).Limit(limit).Offset(offset).Execute()
		if err != nil {
			return 0, false, classify(what, resp, err)
		}
		for _, f := range page.Results {
			// With filter logic disabled NetBox ignores cf_ filters: the lookup would
			// return every object, so the field is not used.
			if f.Name != ciField || f.FilterLogic != nil && f.FilterLogic.GetValue() == "disabled" {
				continue
			}
			for _, t := range f.ObjectTypes {
				kinds[t] = true
			}
		}
		return len(page.Results), page.GetNext() != "", nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.ciKinds, s.ciKindsExp = kinds, s.now().Add(s.cfg.CacheTTL)
	s.mu.Unlock()
	return kinds, nil
}

// findObject lists the objects of kind whose name (or, byField, driftwatch_ci) is ci. NetBox
// filters custom fields by containment unless their filter logic is exact, so matches are
// checked here too. Two matches are a permanent error: the CI is ambiguous.
func (s *Source) findObject(ctx context.Context, kind, ci string, byField bool) (object, bool, error) {
	what := fmt.Sprintf("list %s name=%q", kind, ci)
	if byField {
		what = fmt.Sprintf("list %s cf_%s=%q", kind, ciField, ci)
		ctx = withQuery(ctx, "cf_"+ciField, ci)
	}
	var found []object
	keep := func(o object) {
		if byField {
			var v string
			if json.Unmarshal(o.customFields[ciField], &v) != nil || v != ci {
				return
			}
		} else if o.name != ci {
			return
		}
		found = append(found, o)
	}
	err := s.pages(func(limit, offset int32) (int, bool, error) {
		if kind == objDevice {
			req := s.api.DcimAPI.DcimDevicesList(ctx).Limit(limit).Offset(offset).Ordering("id")
			if !byField {
				req = req.Name([]string{ci})
			}
			page, resp, err := req.Execute()
			if err != nil {
				return 0, false, classify(what, resp, err)
			}
			raw, err := rawResults(what, resp)
			if err != nil {
				return 0, false, err
			}
			for _, d := range page.Results {
				keep(deviceObject(d, raw[int64(d.Id)]))
			}
			return len(page.Results), page.GetNext() != "", nil
		}
		req := s.api.VirtualizationAPI.VirtualizationVirtualMachinesList(ctx).Limit(limit).Offset(offset).Ordering("id")
		if !byField {
			req = req.Name([]string{ci})
		}
		page, resp, err := req.Execute()
		if err != nil {
			return 0, false, classify(what, resp, err)
		}
		raw, err := rawResults(what, resp)
		if err != nil {
			return 0, false, err
		}
		for _, v := range page.Results {
			keep(vmObject(v, raw[int64(v.Id)]))
		}
		return len(page.Results), page.GetNext() != "", nil
	})
	if err != nil {
		return object{}, false, err
	}
	switch len(found) {
	case 0:
		return object{}, false, nil
	case 1:
		return found[0], true, nil
	}
	ids := make([]string, len(found))
	for i, o := range found {
		ids[i] = fmt.Sprint(o.id)
	}
	return object{}, false, fault.Permanent(fmt.Errorf("netbox %s: %d objects claim the CI (ids %s); make names or %s unique", what, len(found), strings.Join(ids, ", "), ciField))
}

func deviceObject(d nb.DeviceWithConfigContext, raw rawResult) object {
	o := object{kind: objDevice, id: d.Id, name: d.GetName(), configContext: raw.ConfigContext, customFields: raw.CustomFields}
	if d.Status != nil && d.Status.Value != nil {
		o.status = string(*d.Status.Value)
	}
	if p, ok := d.GetPlatformOk(); ok && p != nil {
		o.platform = p.GetSlug()
	}
	o.site = d.Site.GetSlug()
	o.role = d.Role.GetSlug()
	if ip, ok := d.GetPrimaryIpOk(); ok && ip != nil {
		o.ip = ip.GetAddress()
	}
	return o
}

func vmObject(v nb.VirtualMachineWithConfigContext, raw rawResult) object {
	o := object{kind: objVM, id: v.Id, name: v.Name, configContext: raw.ConfigContext, customFields: raw.CustomFields}
	if v.Status != nil && v.Status.Value != nil {
		o.status = string(*v.Status.Value)
	}
	if p, ok := v.GetPlatformOk(); ok && p != nil {
		o.platform = p.GetSlug()
	}
	if site, ok := v.GetSiteOk(); ok && site != nil {
		o.site = site.GetSlug()
	}
	if r, ok := v.GetRoleOk(); ok && r != nil {
		o.role = r.GetSlug()
	}
	if ip, ok := v.GetPrimaryIpOk(); ok && ip != nil {
		o.ip = ip.GetAddress()
	}
	o.vcpus, o.memory, o.disk = v.Vcpus.Get(), v.Memory.Get(), v.Disk.Get()
	return o
}

// loadInterfaces reads every interface of o, all pages.
func (s *Source) loadInterfaces(ctx context.Context, o *object) error {
	o.interfaces = map[string]iface{}
	if o.kind == objDevice {
		what := fmt.Sprintf("list dcim.interface device_id=%d", o.id)
		return s.pages(func(limit, offset int32) (int, bool, error) {
			page, resp, err := s.api.DcimAPI.DcimInterfacesList(ctx).DeviceId([]int32{o.id}).Limit(limit).Offset(offset).Ordering("id").Execute()
			if err != nil {
				return 0, false, classify(what, resp, err)
			}
			for _, i := range page.Results {
				o.interfaces[i.Name] = iface{enabled: i.GetEnabled(), mac: i.MacAddress.Get(), mtu: i.Mtu.Get()}
			}
			return len(page.Results), page.GetNext() != "", nil
		})
	}
	what := fmt.Sprintf("list virtualization.vminterface virtual_machine_id=%d", o.id)
	return s.pages(func(limit, offset int32) (int, bool, error) {
		page, resp, err := s.api.VirtualizationAPI.VirtualizationInterfacesList(ctx).VirtualMachineId([]int32{o.id}).Limit(limit).Offset(offset).Ordering("id").Execute()
		if err != nil {
			return 0, false, classify(what, resp, err)
		}
		for _, i := range page.Results {
			o.interfaces[i.Name] = iface{enabled: i.GetEnabled(), mac: i.MacAddress.Get(), mtu: i.Mtu.Get()}
		}
		return len(page.Results), page.GetNext() != "", nil
	})
}
