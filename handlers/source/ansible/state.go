package ansible

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Source is the observations' source name.
const Source = "ansible"

// CIType is the ci_type of a host.
const CIType = "node"

// Top-level members of the state.
const (
	MemberPackages   = "packages"
	MemberServices   = "services"
	MemberFirmware   = "firmware"
	MemberCompliance = "compliance"
)

// State is a host's normalised state in JSON shape (objects are map[string]any, values are
// strings and booleans), holding only the members the facts carried; see the package doc.
type State map[string]any

// CIID returns the CI the facts describe: the first non-empty of the document's host,
// hostname, nodename and FQDN; empty when there is none.
func (f Facts) CIID() string {
	for _, id := range []string{f.Host, f.Hostname, f.Nodename, f.FQDN} {
		if id = strings.TrimSpace(id); id != "" {
			return id
		}
	}
	return ""
}

// State returns the normalised packages, services and firmware members, each present only
// when the facts carried it. Two calls on the same facts give equal states.
func (f Facts) State() State {
	st := State{}
	if f.Packages != nil {
		st[MemberPackages] = normalPackages(f.Packages)
	}
	if f.Services != nil {
		st[MemberServices] = normalServices(f.Services)
	}
	if f.Firmware != nil {
		fw := map[string]any{}
		for k, v := range f.Firmware {
			if v = strings.TrimSpace(v); v != "" && v != "NA" {
				fw[k] = v
			}
		}
		st[MemberFirmware] = fw
	}
	return st
}

// normalPackages maps each package to its distinct full versions, sorted and joined.
func normalPackages(in map[string][]Package) map[string]any {
	out := make(map[string]any, len(in))
	for name, list := range in {
		if len(list) == 0 {
			continue
		}
		versions := make([]string, len(list))
		for i, p := range list {
			versions[i] = p.FullVersion()
		}
		slices.Sort(versions)
		out[name] = strings.Join(slices.Compact(versions), ", ")
	}
	return out
}

// normalServices names systemd units without ".service"; a systemd record wins over another
// scanner's record of the same service, and otherwise the first name in sorted order does.
func normalServices(in map[string]Service) map[string]any {
	out := make(map[string]any, len(in))
	from := map[string]Service{}
	for _, key := range slices.Sorted(maps.Keys(in)) {
		s := in[key]
		name := strings.TrimSuffix(key, ".service")
		if prev, ok := from[name]; ok && (prev.Source == "systemd" || s.Source != "systemd") {
			continue
		}
		from[name] = s
		v := map[string]any{}
		if s.State != "" {
			v["state"] = s.State
		}
		if s.Status != "" {
			v["enabled"] = s.Status == "enabled"
		}
		out[name] = v
	}
	return out
}

// Observation returns the facts as one observation of the host, with the compliance outcome
// of rules (none when rules is empty) and the scope of the members the facts carried (see the
// package doc). Facts without a host name or without any member are refused with a permanent
// error naming the field.
func (f Facts) Observation(rules Rules) (event.ObservationSubmitted_v1, error) {
	ci := f.CIID()
	st := f.State()
	var errs []error
	if ci == "" {
		errs = append(errs, errors.New("ci_id: the document has no host and the facts no hostname, nodename or fqdn"))
	}
	if len(st) == 0 {
		errs = append(errs, errors.New("ansible_facts: carries none of packages (package_facts), services (service_facts) or the firmware facts (setup)"))
	}
	if err := errors.Join(errs...); err != nil {
		return event.ObservationSubmitted_v1{}, fault.Permanent(fmt.Errorf("observe ansible facts: %w", err))
	}
	var details map[string]string
	if rules.Len() > 0 {
		outcomes := rules.Evaluate(st)
		if len(outcomes) == rules.Len() {
			compliance := make(map[string]any, len(outcomes))
			details = make(map[string]string, len(outcomes))
			for _, r := range rules.rules {
				compliance[r.ID] = string(outcomes[r.ID])
				details["/"+MemberCompliance+drift.FieldPointer(r.ID)] = r.explain(st, outcomes[r.ID])
			}
			st[MemberCompliance] = compliance
		}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return event.ObservationSubmitted_v1{}, fmt.Errorf("encode state of %s: %w", ci, err)
	}
	hash, err := drift.Hash(raw)
	if err != nil {
		return event.ObservationSubmitted_v1{}, fmt.Errorf("hash state of %s: %w", ci, err)
	}
	obs := drift.Observation{
		CIID: ci, CIType: CIType, Source: Source, ObservedAt: f.ObservedAt,
		State: raw, StateHash: hash, Details: details,
	}
	if !f.ObservedAt.IsZero() {
		obs.ID = event.DeriveID("ansible-observation", ci, f.ObservedAt.Format(time.RFC3339Nano), hash)
	}
	return event.ObservationSubmitted_v1{Observation: obs, Scope: slices.Sorted(maps.Keys(st))}, nil
}

// Reader turns facts documents into observations, with the compliance outcome of Rules; the
// API's POST /facts and the ansible.facts_collected stream use it.
type Reader struct {
	Rules Rules
}

// Observe parses one facts document and returns it as one observation of the host. Every
// error names the field at fault and is marked fault.Permanent.
func (r Reader) Observe(doc []byte) (event.ObservationSubmitted_v1, error) {
	f, err := Parse(doc)
	if err != nil {
		return event.ObservationSubmitted_v1{}, err
	}
	return f.Observation(r.Rules)
}
