package drifts

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections"
)

// Verification says how recently a CI was seen: a CI not verified within its expected
// interval is not "in sync", whatever its drifts say.
type Verification string

// Verifications.
const (
	Verified      Verification = "verified"
	Stale         Verification = "stale"
	NeverVerified Verification = "never_verified"
)

// VerificationOf judges a CI at now: verified when an observation of it was received within
// every, stale when the last one is older, never verified when none was.
func VerificationOf(ci CI, now time.Time, every time.Duration) Verification {
	return verification(lastVerified(ci), now, every)
}

// lastVerified is when an observation of ci was last received (observed, for one recorded
// without its receipt time); zero when none was.
func lastVerified(ci CI) time.Time {
	if !ci.LastReceivedAt.IsZero() {
		return ci.LastReceivedAt
	}
	return ci.LastObservedAt
}

// verification judges a CI last verified at last (zero: never) at now.
func verification(last, now time.Time, every time.Duration) Verification {
	switch {
	case last.IsZero():
		return NeverVerified
	case now.Sub(last) > every:
		return Stale
	default:
		return Verified
	}
}

// Coverage counts the CIs by how recently they were verified. InSync counts the verified CIs
// without unresolved drift; Drifted every CI with some, verified or not.
type Coverage struct {
	// ExpectedInterval is the longest a CI may go without an observation and still count
	// as verified, as a Go duration ("15m0s").
	ExpectedInterval string `json:"expected_interval"`
	CIs              int    `json:"cis"`
	Verified         int    `json:"verified"`
	Stale            int    `json:"stale"`
	NeverVerified    int    `json:"never_verified"`
	InSync           int    `json:"in_sync"`
	Drifted          int    `json:"drifted"`
	// StaleCIs and NeverVerifiedCIs name up to 100 CIs of each kind, by CI id.
	StaleCIs         []string `json:"stale_cis"`
	NeverVerifiedCIs []string `json:"never_verified_cis"`
}

// maxNamed bounds the CIs a coverage lists by name.
const maxNamed = 100

// Coverage judges every CI at now against the expected interval every. Cost: a pass over
// ci_seen's fixed-size values, no CI record decoded (the report is polled).
func (m *Model) Coverage(now time.Time, every time.Duration) (Coverage, error) {
	c := Coverage{ExpectedInterval: every.String(), StaleCIs: []string{}, NeverVerifiedCIs: []string{}}
	err := m.view(func(b model) error {
		return b.ciSeen.ForEach(func(k, v []byte) error {
			last, drifted, ok := parseSeenValue(v)
			if !ok {
				return fmt.Errorf("ci %s: a coverage value of %d bytes", k, len(v))
			}
			c.CIs++
			if drifted {
				c.Drifted++
			}
			switch verification(last, now, every) {
			case Verified:
				c.Verified++
				if !drifted {
					c.InSync++
				}
			case Stale:
				c.Stale++
				if len(c.StaleCIs) < maxNamed {
					c.StaleCIs = append(c.StaleCIs, string(k))
				}
			case NeverVerified:
				c.NeverVerified++
				if len(c.NeverVerifiedCIs) < maxNamed {
					c.NeverVerifiedCIs = append(c.NeverVerifiedCIs, string(k))
				}
			}
			return nil
		})
	})
	return c, err
}

// TimelineQuery selects a timeline: buckets of Bucket (an hour or a day) from From (rounded
// down to a bucket) to To, of the drifts that match Category and Severity (empty: all).
type TimelineQuery struct {
	Bucket   time.Duration
	From, To time.Time
	Category drift.Category
	Severity drift.Severity
}

// MaxBuckets bounds a timeline's length.
const MaxBuckets = 2000

// ErrTooManyBuckets means a timeline query spans more than MaxBuckets buckets.
var ErrTooManyBuckets = errors.New("the range holds too many buckets")

// Timeline is drift opened and resolved per bucket, oldest first, every bucket of the range
// present (empty ones with zeros).
type Timeline struct {
	Bucket  string           `json:"bucket"`
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	Buckets []TimelineBucket `json:"buckets"`
}

// Flow counts drifts opened and resolved.
type Flow struct {
	Opened   int `json:"opened"`
	Resolved int `json:"resolved"`
}

// TimelineBucket is one bucket: the drifts detected and the drifts resolved within
// [Start, Start+bucket), in total, by category and by severity.
type TimelineBucket struct {
	Start time.Time `json:"start"`
	Flow
	ByCategory map[drift.Category]Flow `json:"by_category"`
	BySeverity map[drift.Severity]Flow `json:"by_severity"`
}

// Timeline counts opened and resolved drifts per bucket. Bucket must be positive and divide a
// day (an hour or a day); buckets start at multiples of it in UTC.
func (m *Model) Timeline(q TimelineQuery) (Timeline, error) {
	if q.Bucket <= 0 || (24*time.Hour)%q.Bucket != 0 {
		return Timeline{}, fmt.Errorf("bucket %s must divide a day", q.Bucket)
	}
	from, to := q.From.UTC().Truncate(q.Bucket), q.To.UTC()
	if !to.After(from) {
		return Timeline{}, fmt.Errorf("to %s must be after from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	n := int((to.Sub(from) + q.Bucket - 1) / q.Bucket)
	if n > MaxBuckets {
		return Timeline{}, fmt.Errorf("%w: %d, at most %d", ErrTooManyBuckets, n, MaxBuckets)
	}
	t := Timeline{Bucket: q.Bucket.String(), From: from, To: to, Buckets: make([]TimelineBucket, n)}
	for i := range t.Buckets {
		t.Buckets[i] = TimelineBucket{Start: from.Add(time.Duration(i) * q.Bucket),
			ByCategory: map[drift.Category]Flow{}, BySeverity: map[drift.Severity]Flow{}}
	}
	at := func(ts time.Time) *TimelineBucket {
		if ts.IsZero() || ts.Before(from) || !ts.Before(to) {
			return nil
		}
		return &t.Buckets[int(ts.Sub(from)/q.Bucket)]
	}
	err := m.view(func(b model) error {
		return b.drift.ForEach(func(k, v []byte) error {
			var d Drift
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("drift %s: %w", k, err)
			}
			if (q.Category != "" && d.Category != q.Category) || (q.Severity != "" && d.Severity != q.Severity) {
				return nil
			}
			if bk := at(d.DetectedAt); bk != nil {
				bk.count(d, func(f *Flow) { f.Opened++ })
			}
			if bk := at(d.ResolvedAt); bk != nil && d.Status == drift.StatusResolved {
				bk.count(d, func(f *Flow) { f.Resolved++ })
			}
			return nil
		})
	})
	return t, err
}

// count applies add to the bucket's total and to its category and severity counts.
func (bk *TimelineBucket) count(d Drift, add func(*Flow)) {
	add(&bk.Flow)
	c := bk.ByCategory[d.Category]
	add(&c)
	bk.ByCategory[d.Category] = c
	s := bk.BySeverity[d.Severity]
	add(&s)
	bk.BySeverity[d.Severity] = s
}

// Cause is a group of unresolved drifts that share their field, desired and actual value
// across CIs: one bad change on 400 CIs is one cause with its 400 CIs.
type Cause struct {
	Field    string          `json:"field"`
	Desired  json.RawMessage `json:"desired"`
	Actual   json.RawMessage `json:"actual"`
	Category drift.Category  `json:"category"`
	// Severity is the highest among the drifts.
	Severity drift.Severity `json:"severity"`
	// Templates are the templates the drifts were judged against, sorted.
	Templates []string `json:"templates"`
	Count     int      `json:"count"`
	// CIs are the CIs with the drift, sorted; DriftIDs their drifts, in the same order.
	CIs      []string `json:"cis"`
	DriftIDs []string `json:"drift_ids"`
	// FirstDetectedAt and LastDetectedAt bound when the drifts were detected.
	FirstDetectedAt time.Time `json:"first_detected_at"`
	LastDetectedAt  time.Time `json:"last_detected_at"`
}

// Causes groups the unresolved drifts that match f (its Status is ignored) by field, desired
// and actual value; the largest groups first, then by field.
func (m *Model) Causes(f Filter) ([]Cause, error) {
	f.Status = ""
	groups := map[string]*Cause{}
	err := m.view(func(b model) error {
		c := b.ciOpen.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				continue
			}
			var d Drift
			ok, err := projections.GetJSON(b.drift, string(k[i+1:]), &d)
			if err != nil {
				return err
			}
			if !ok || !f.match(d.Status, d.CIID, d.Category, d.Severity) {
				continue
			}
			desired, actual := compact(d.Desired), compact(d.Actual)
			key := d.Field + "\x00" + string(desired) + "\x00" + string(actual)
			g := groups[key]
			if g == nil {
				g = &Cause{Field: d.Field, Desired: desired, Actual: actual, Category: d.Category, Severity: d.Severity,
					Templates: []string{}, FirstDetectedAt: d.DetectedAt, LastDetectedAt: d.DetectedAt}
				groups[key] = g
			}
			g.add(d)
		}
		return nil
	})
	out := make([]Cause, 0, len(groups))
	for _, g := range groups {
		g.sort()
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Field, b.Field),
			bytes.Compare(a.Desired, b.Desired), bytes.Compare(a.Actual, b.Actual))
	})
	return out, err
}

func (g *Cause) add(d Drift) {
	g.Count++
	g.CIs = append(g.CIs, d.CIID)
	g.DriftIDs = append(g.DriftIDs, d.ID)
	if !g.Severity.AtLeast(d.Severity) {
		g.Severity = d.Severity
	}
	if d.TemplateID != "" && !slices.Contains(g.Templates, d.TemplateID) {
		g.Templates = append(g.Templates, d.TemplateID)
	}
	if d.DetectedAt.Before(g.FirstDetectedAt) {
		g.FirstDetectedAt = d.DetectedAt
	}
	if d.DetectedAt.After(g.LastDetectedAt) {
		g.LastDetectedAt = d.DetectedAt
	}
}

// sort orders the CIs (with their drift ids) and the templates.
func (g *Cause) sort() {
	idx := make([]int, len(g.CIs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(g.CIs[a], g.CIs[b]), cmp.Compare(g.DriftIDs[a], g.DriftIDs[b]))
	})
	cis, ids := make([]string, len(idx)), make([]string, len(idx))
	for i, j := range idx {
		cis[i], ids[i] = g.CIs[j], g.DriftIDs[j]
	}
	g.CIs, g.DriftIDs = cis, ids
	slices.Sort(g.Templates)
}

// compact returns raw without insignificant white space (raw as it is when it is not JSON),
// so that equal values group together.
func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
