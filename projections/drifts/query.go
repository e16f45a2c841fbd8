package drifts

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections"
)

// ErrBadCursor means a page cursor that List did not hand out.
var ErrBadCursor = errors.New("invalid page cursor")

// DefaultLimit is the page size List uses when Page.Limit is 0 or less.
const DefaultLimit = 50

// List returns one page of the drifts that match f, in detection order (detected_at, then
// drift id), with the total number of matches. The order is stable: a drift keeps its place
// whatever happens to it later, so a cursor stays valid.
func (m *Model) List(f Filter, p Page) (List, error) {
	if p.Limit <= 0 {
		p.Limit = DefaultLimit
	}
	var after []byte
	if p.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || !bytes.Contains(raw, []byte{0}) {
			return List{}, ErrBadCursor
		}
		after = raw
	}
	out := List{Items: []Drift{}}
	err := m.view(func(b model) error {
		var last []byte
		c := b.order.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			id, status, ci, cat, sev, ok := parseOrderValue(v)
			if !ok || !f.match(status, ci, cat, sev) {
				continue
			}
			out.Total++
			if after != nil && bytes.Compare(k, after) <= 0 {
				continue
			}
			if len(out.Items) == p.Limit {
				out.NextCursor = base64.RawURLEncoding.EncodeToString(last)
				continue
			}
			var d Drift
			if _, err := projections.GetJSON(b.drift, id, &d); err != nil {
				return err
			}
			out.Items = append(out.Items, d)
			last = append(last[:0], k...)
		}
		return nil
	})
	return out, err
}

// Get returns the drift with the given id.
func (m *Model) Get(id string) (Drift, bool, error) {
	var d Drift
	var ok bool
	err := m.view(func(b model) (err error) {
		ok, err = projections.GetJSON(b.drift, id, &d)
		return err
	})
	return d, ok, err
}

// CI returns the drift status of one CI.
func (m *Model) CI(id string) (CI, bool, error) {
	var ci CI
	var ok bool
	err := m.view(func(b model) (err error) {
		ok, err = projections.GetJSON(b.ci, id, &ci)
		return err
	})
	return ci, ok, err
}

// CIs returns every CI the model knows, by CI id, each with its last observed state, CI type
// and template id (reconcile re-submits them). A CI known only from a drift has no state.
func (m *Model) CIs() ([]CI, error) {
	out := []CI{}
	err := m.view(func(b model) error {
		return b.ci.ForEach(func(k, _ []byte) error {
			var ci CI
			if _, err := projections.GetJSON(b.ci, string(k), &ci); err != nil {
				return err
			}
			out = append(out, ci)
			return nil
		})
	})
	return out, err
}

// Report returns the drift counts by CI type, category, severity and status.
func (m *Model) Report() (Report, error) {
	r := Report{
		ByStatus: map[drift.Status]int{
			drift.StatusOpen: 0, drift.StatusAcknowledged: 0, drift.StatusRemediating: 0, drift.StatusEscalated: 0, drift.StatusResolved: 0,
		},
		ByCIType:   map[string]Counts{},
		ByCategory: map[drift.Category]Counts{},
		BySeverity: map[drift.Severity]Counts{},
	}
	err := m.view(func(b model) error {
		return b.count.ForEach(func(k, v []byte) error {
			p := strings.Split(string(k), "\x00")
			if len(p) != 3 || len(v) != 8 {
				return nil
			}
			value, status, n := p[1], drift.Status(p[2]), int(binary.BigEndian.Uint64(v))
			switch p[0] {
			case dimCIType:
				c := r.ByCIType[value]
				c.add(status, n)
				r.ByCIType[value] = c
			case dimCategory:
				c := r.ByCategory[drift.Category(value)]
				c.add(status, n)
				r.ByCategory[drift.Category(value)] = c
			case dimSeverity:
				c := r.BySeverity[drift.Severity(value)]
				c.add(status, n)
				r.BySeverity[drift.Severity(value)] = c
				// Every drift has exactly one severity counter: it gives the totals.
				r.Total.add(status, n)
				r.ByStatus[status] += n
			}
			return nil
		})
	})
	return r, err
}
