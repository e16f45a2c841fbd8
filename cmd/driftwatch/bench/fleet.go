package bench

import (
	"fmt"
	"strconv"
	"time"
)

// Fleet is the benchmark's fleet: CIs of a few types, each type with one template whose
// definition is the same ~4 KB host state (ReferencePayload, 40 fields, some nested) that
// its CIs report. An observation repeats its CI's state, except a share Deviating of them,
// which add a field "drift_probe" with a value of their own: each of those is a new state
// that opens one drift on /drift_probe, and the CI's next observation, back to the template,
// resolves it. Observations go to the CIs round-robin, so at 5,000/s each of 10,000 CIs
// reports every two seconds.
type Fleet struct {
	CIs   int
	Types int
	// Deviating is the share of observations that deviate, 0 to 1.
	Deviating float64

	state []byte // the template definition and every CI's usual state
}

// NewFleet returns a fleet of cis CIs over types types.
func NewFleet(cis, types int, deviating float64) *Fleet {
	return &Fleet{CIs: cis, Types: max(1, types), Deviating: deviating, state: ReferencePayload(DefaultPayloadBytes)}
}

// CI names CI i.
func (f *Fleet) CI(i int) string { return fmt.Sprintf("bench-ci-%06d", i) }

// Type names the type of CI i.
func (f *Fleet) Type(i int) string { return fmt.Sprintf("bench-type-%d", i%f.Types) }

// Template is the template of type t, as PUT /templates/{id} takes it.
func (f *Fleet) Template(t int) (id string, body []byte) {
	id = fmt.Sprintf("bench-type-%d", t)
	return id, []byte(`{"template_id":"` + id + `","resource_type":"` + id + `","template_definition":` + string(f.state) + `}`)
}

// Deviates reports whether observation seq deviates: deterministic, spread evenly.
func (f *Fleet) Deviates(seq uint64) bool {
	if f.Deviating <= 0 {
		return false
	}
	every := uint64(1/f.Deviating + 0.5)
	// Spread over the CIs (splitmix64 of the sequence number): not always the same ones.
	z := seq + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return every <= 1 || (z^(z>>31))%every == 0
}

// Observation is observation seq as POST /observations takes it, with its id, CI and
// whether it deviates; usual forces the CI's usual state.
func (f *Fleet) Observation(seq uint64, at time.Time, usual bool) (body []byte, id, ci string, deviates bool) {
	i := int(seq % uint64(f.CIs))
	ci, id, deviates = f.CI(i), "o-"+strconv.FormatUint(seq, 10), !usual && f.Deviates(seq)
	b := make([]byte, 0, len(f.state)+192)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","ci_id":"`...)
	b = append(b, ci...)
	b = append(b, `","ci_type":"`...)
	b = append(b, f.Type(i)...)
	b = append(b, `","source":"bench","observed_at":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","state":`...)
	if deviates {
		b = append(b, `{"drift_probe":"v`...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, `",`...)
		b = append(b, f.state[1:]...)
	} else {
		b = append(b, f.state...)
	}
	return append(b, '}'), id, ci, deviates
}

// Envelope is observation seq as a source XADDs it onto driftwatch.observations.v1: the
// event field's CloudEvent.
func (f *Fleet) Envelope(seq uint64, at time.Time, usual bool) (event []byte, id string, deviates bool) {
	data, id, ci, deviates := f.Observation(seq, at, usual)
	b := make([]byte, 0, len(data)+256)
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, fmt.Sprintf("00000000-0000-4000-8000-%012d", seq%1_000_000_000_000)...)
	b = append(b, `","source":"bench","type":"io.driftwatch.observation.submitted.v1","subject":"`...)
	b = append(b, ci...)
	b = append(b, `","time":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"application/json","data":`...)
	b = append(b, data...)
	return append(b, '}'), id, deviates
}
