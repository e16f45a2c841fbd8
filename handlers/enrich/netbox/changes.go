package netbox

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Changes reads NetBox's change log (/api/core/object-changes/) after the cursor after:
// every change with a greater id, in id order, all pages. It returns what they touch (the
// rules of ParseWebhook, applied to changed_object_type, changed_object and the prechange
// and postchange data) and the highest id seen, the cursor to persist and pass next time
// (after itself when there is nothing new). NetBox does not retry a webhook that failed, so
// following the change log catches what webhooks missed.
//
// The change records of interfaces and virtual disks name their device or virtual machine
// by id in their snapshots; Changes lists those objects (by id, all pages) to name them,
// with their driftwatch_ci values. A parent deleted since is not named: its own deletion is
// in the log.
//
// go-netbox v4.3.0 types object change ids as int32 (NetBox's are 64-bit), so a cursor
// beyond 2147483647 is refused as a permanent error. On an error the cursor does not move.
func (s *Source) Changes(ctx context.Context, after int64) (Touched, int64, error) {
	if after < 0 || after > math.MaxInt32 {
		return Touched{}, after, fault.Permanent(fmt.Errorf("netbox changes: cursor %d is outside 0..%d, the ids go-netbox v4.3.0 can ask for", after, math.MaxInt32))
	}
	what := fmt.Sprintf("list core.objectchange id__gt=%d", after)
	var (
		out     Touched
		parents []parentRef
	)
	next := after
	err := s.pages(func(limit, offset int32) (int, bool, error) {
		page, resp, err := s.api.CoreAPI.CoreObjectChangesList(ctx).
			IdGt([]int32{int32(after)}).Ordering("id").Limit(limit).Offset(offset).Execute()
		if err != nil {
			return 0, false, classify(what, resp, err)
		}
		for _, c := range page.Results {
			next = max(next, int64(c.Id))
			t := touches(c.ChangedObjectType, asMap(c.ChangedObject), asMap(c.PrechangeData), asMap(c.PostchangeData))
			out = out.Merge(t.Touched)
			parents = append(parents, t.parents...)
		}
		return len(page.Results), page.GetNext() != "", nil
	})
	if err != nil {
		return Touched{}, after, fmt.Errorf("netbox changes after %d: %w", after, err)
	}
	if out.All {
		return Touched{All: true}, next, nil
	}
	names, err := s.parentNames(ctx, parents)
	if err != nil {
		return Touched{}, after, fmt.Errorf("netbox changes after %d: %w", after, err)
	}
	out.add(names...)
	return out, next, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// parentNames lists the devices and virtual machines refs point at and returns their names
// and driftwatch_ci values.
func (s *Source) parentNames(ctx context.Context, refs []parentRef) ([]string, error) {
	ids := map[string][]int32{}
	for _, r := range refs {
		if r.id > 0 && r.id <= math.MaxInt32 && !slices.Contains(ids[r.kind], int32(r.id)) {
			ids[r.kind] = append(ids[r.kind], int32(r.id))
		}
	}
	var names []string
	add := func(name string, cf map[string]any) {
		names = append(names, name)
		if v, ok := cf[ciField].(string); ok {
			names = append(names, v)
		}
	}
	for _, kind := range []string{objDevice, objVM} {
		all := ids[kind]
		slices.Sort(all)
		for chunk := range slices.Chunk(all, s.cfg.PageSize) {
			what := fmt.Sprintf("list %s id=%v", kind, chunk)
			err := s.pages(func(limit, offset int32) (int, bool, error) {
				if kind == objDevice {
					page, resp, err := s.api.DcimAPI.DcimDevicesList(ctx).Id(chunk).Ordering("id").Limit(limit).Offset(offset).Execute()
					if err != nil {
						return 0, false, classify(what, resp, err)
					}
					for _, d := range page.Results {
						add(d.GetName(), d.CustomFields)
					}
					return len(page.Results), page.GetNext() != "", nil
				}
				page, resp, err := s.api.VirtualizationAPI.VirtualizationVirtualMachinesList(ctx).Id(chunk).Ordering("id").Limit(limit).Offset(offset).Execute()
				if err != nil {
					return 0, false, classify(what, resp, err)
				}
				for _, v := range page.Results {
					add(v.Name, v.CustomFields)
				}
				return len(page.Results), page.GetNext() != "", nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return names, nil
}
