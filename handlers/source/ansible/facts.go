package ansible

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Facts is one host's facts as Parse read them. The zero value carries nothing.
type Facts struct {
	// Host is the facts document's host (its inventory_hostname); empty for the other shapes.
	Host string
	// Hostname, Nodename and FQDN are the setup facts hostname, nodename and fqdn.
	Hostname, Nodename, FQDN string
	// ObservedAt is date_time.iso8601; zero when the setup facts are absent.
	ObservedAt time.Time
	// Packages maps a package name to its installed versions (package_facts); nil when
	// package_facts did not run.
	Packages map[string][]Package
	// Services maps a service name, as service_facts keys it, to the service; nil when
	// service_facts did not run.
	Services map[string]Service
	// Firmware holds those of the setup facts bios_version, bios_date, product_name and
	// system_vendor that were present, verbatim ("NA" included); nil when none was.
	Firmware map[string]string
}

// Package is one installed version of a package as package_facts reports it.
type Package struct {
	// Name is the package's name.
	Name string
	// Version is the version; apt includes the epoch in it.
	Version string
	// Release is the rpm release; empty when not reported.
	Release string
	// Epoch is the rpm epoch as text; empty when not reported or null.
	Epoch string
	// Arch is the architecture.
	Arch string
	// Source is the package manager that reported it (apt, rpm, ...).
	Source string
}

// FullVersion returns the version as dpkg and rpm show it, [epoch:]version[-release]. An
// epoch of 0 or "(none)" is not shown, nor one that Version already starts with.
func (p Package) FullVersion() string {
	v := p.Version
	if p.Release != "" {
		v += "-" + p.Release
	}
	if p.Epoch != "" && p.Epoch != "0" && p.Epoch != "(none)" && !strings.HasPrefix(p.Version, p.Epoch+":") {
		v = p.Epoch + ":" + v
	}
	return v
}

// Service is one service as service_facts reports it.
type Service struct {
	// Name is the service's name as reported ("ssh.service" for a systemd unit).
	Name string
	// State is running, stopped, failed, ...; empty when not reported.
	State string
	// Status is the boot setting (enabled, disabled, static, masked, ...); empty when not
	// reported.
	Status string
	// Source is the scanner that found it (systemd, sysv, openrc, ...).
	Source string
}

// Firmware fact names, as they appear in the state's firmware member.
var firmwareFacts = []string{"bios_date", "bios_version", "product_name", "system_vendor"}

// factNames are the facts Parse reads; an object carrying one of them (with or without the
// "ansible_" prefix) is taken for an ansible_facts object.
var factNames = append([]string{"hostname", "nodename", "fqdn", "date_time", "packages", "services"}, firmwareFacts...)

// Parse reads one host's facts from any of the shapes described in the package doc. Every
// error names the field at fault and is marked fault.Permanent.
func Parse(raw []byte) (Facts, error) {
	f, err := parse(raw)
	if err != nil {
		return Facts{}, fault.Permanent(fmt.Errorf("parse ansible facts: %w", err))
	}
	return f, nil
}

func parse(raw []byte) (Facts, error) {
	doc, err := object(raw, "document")
	if err != nil {
		return Facts{}, err
	}
	var f Facts
	factsRaw, hasFacts := doc["ansible_facts"]
	hostRaw, hasHost := doc["host"]
	prefix := "ansible_facts."
	switch {
	case hasHost:
		// The facts document of collect-facts.yml: exactly host and ansible_facts.
		var errs []error
		for _, k := range slices.Sorted(maps.Keys(doc)) {
			if k != "host" && k != "ansible_facts" {
				errs = append(errs, fmt.Errorf("%s: unknown member of a facts document (want host and ansible_facts)", k))
			}
		}
		host, null, err := str(hostRaw)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("host: %w", err))
		case null || strings.TrimSpace(host) == "":
			errs = append(errs, errors.New("host: must be a non-empty string"))
		}
		f.Host = strings.TrimSpace(host)
		if !hasFacts {
			errs = append(errs, errors.New("ansible_facts: required"))
		}
		if err := errors.Join(errs...); err != nil {
			return Facts{}, err
		}
	case hasFacts:
		// A module result; a failed or unreachable host has a message instead of facts.
	case isFacts(doc):
		factsRaw, prefix = raw, ""
	default:
		return Facts{}, errors.New("ansible_facts: required" + failure(doc))
	}
	facts, err := object(factsRaw, strings.TrimSuffix(prefix, "."))
	if err != nil {
		return Facts{}, err
	}
	return f, f.read(facts, prefix)
}

// isFacts reports whether doc looks like an ansible_facts object itself.
func isFacts(doc map[string]json.RawMessage) bool {
	for k := range doc {
		if strings.HasPrefix(k, "ansible_") || slices.Contains(factNames, k) {
			return true
		}
	}
	return false
}

// failure describes why a module result has no facts, if it says.
func failure(doc map[string]json.RawMessage) string {
	var msg string
	if raw, ok := doc["msg"]; ok {
		_ = json.Unmarshal(raw, &msg)
	}
	for _, k := range []string{"failed", "unreachable", "skipped"} {
		var b bool
		if raw, ok := doc[k]; ok && json.Unmarshal(raw, &b) == nil && b {
			if msg != "" {
				return fmt.Sprintf(" (the module result is %s: %s)", k, msg)
			}
			return fmt.Sprintf(" (the module result is %s)", k)
		}
	}
	return ""
}

// read fills f from an ansible_facts object; prefix is the object's path for errors.
func (f *Facts) read(facts map[string]json.RawMessage, prefix string) error {
	var errs []error
	lookup := func(name string) (json.RawMessage, string, bool) {
		if raw, ok := facts[name]; ok {
			return raw, prefix + name, true
		}
		raw, ok := facts["ansible_"+name]
		return raw, prefix + "ansible_" + name, ok
	}
	text := func(name string) (string, bool) {
		raw, path, ok := lookup(name)
		if !ok {
			return "", false
		}
		s, null, err := str(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
		return s, ok && !null && err == nil
	}
	f.Hostname, _ = text("hostname")
	f.Nodename, _ = text("nodename")
	f.FQDN, _ = text("fqdn")
	for _, name := range firmwareFacts {
		if v, ok := text(name); ok {
			if f.Firmware == nil {
				f.Firmware = map[string]string{}
			}
			f.Firmware[name] = v
		}
	}
	if raw, path, ok := lookup("date_time"); ok && !isNull(raw) {
		at, err := dateTime(raw, path)
		if err != nil {
			errs = append(errs, err)
		}
		f.ObservedAt = at
	}
	if raw, path, ok := lookup("packages"); ok {
		pkgs, err := packages(raw, path)
		if err != nil {
			errs = append(errs, err)
		}
		f.Packages = pkgs
	}
	if raw, path, ok := lookup("services"); ok {
		svcs, err := services(raw, path)
		if err != nil {
			errs = append(errs, err)
		}
		f.Services = svcs
	}
	return errors.Join(errs...)
}

// dateTime reads date_time.iso8601.
func dateTime(raw json.RawMessage, path string) (time.Time, error) {
	obj, err := object(raw, path)
	if err != nil {
		return time.Time{}, err
	}
	iso, ok := obj["iso8601"]
	if !ok {
		return time.Time{}, nil
	}
	s, null, err := str(iso)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s.iso8601: %w", path, err)
	}
	if null {
		return time.Time{}, nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s.iso8601: %q is not an RFC 3339 time", path, s)
	}
	return at.UTC(), nil
}

// packages reads package_facts: name → list of installed versions.
func packages(raw json.RawMessage, path string) (map[string][]Package, error) {
	obj, err := object(raw, path)
	if err != nil {
		return nil, fmt.Errorf("%s: must be an object of package name to a list of installed versions", path)
	}
	var errs []error
	out := make(map[string][]Package, len(obj))
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		at := fmt.Sprintf("%s[%q]", path, name)
		var entries []json.RawMessage
		if err := json.Unmarshal(obj[name], &entries); err != nil || entries == nil {
			errs = append(errs, fmt.Errorf("%s: must be a list of installed versions", at))
			continue
		}
		list := make([]Package, 0, len(entries))
		for i, e := range entries {
			p, err := pkg(e, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if p.Name == "" {
				p.Name = name
			}
			list = append(list, p)
		}
		out[name] = list
	}
	return out, errors.Join(errs...)
}

// pkg reads one installed version.
func pkg(raw json.RawMessage, path string) (Package, error) {
	obj, err := object(raw, path)
	if err != nil {
		return Package{}, err
	}
	var errs []error
	field := func(name string, required bool) string {
		v, ok := obj[name]
		if !ok {
			if required {
				errs = append(errs, fmt.Errorf("%s.%s: required", path, name))
			}
			return ""
		}
		s, null, err := str(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s.%s: %w", path, name, err))
		case null && required:
			errs = append(errs, fmt.Errorf("%s.%s: required", path, name))
		}
		return s
	}
	p := Package{
		Name: field("name", false), Version: field("version", true), Release: field("release", false),
		Arch: field("arch", false), Source: field("source", false),
	}
	if v, ok := obj["epoch"]; ok && !isNull(v) {
		// rpm reports the epoch as a number, other managers as text.
		var n json.Number
		if s, _, err := str(v); err == nil {
			p.Epoch = s
		} else if json.Unmarshal(v, &n) == nil {
			p.Epoch = n.String()
		} else {
			errs = append(errs, fmt.Errorf("%s.epoch: must be a number, a string or null", path))
		}
	}
	return p, errors.Join(errs...)
}

// services reads service_facts: name → service.
func services(raw json.RawMessage, path string) (map[string]Service, error) {
	obj, err := object(raw, path)
	if err != nil {
		return nil, fmt.Errorf("%s: must be an object of service name to service", path)
	}
	var errs []error
	out := make(map[string]Service, len(obj))
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		at := fmt.Sprintf("%s[%q]", path, name)
		svc, err := object(obj[name], at)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := Service{Name: name}
		for _, m := range []struct {
			field string
			dst   *string
		}{{"name", &s.Name}, {"source", &s.Source}, {"state", &s.State}, {"status", &s.Status}} {
			field, dst := m.field, m.dst
			v, ok := svc[field]
			if !ok {
				continue
			}
			text, null, err := str(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", at, field, err))
			} else if !null && text != "" {
				*dst = text
			}
		}
		out[name] = s
	}
	return out, errors.Join(errs...)
}

// object decodes raw as a JSON object; path names it in errors.
func object(raw json.RawMessage, path string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		if !json.Valid(raw) {
			if err == nil {
				err = errors.New("not JSON")
			}
			return nil, fmt.Errorf("%s: invalid JSON: %w", path, err)
		}
		return nil, fmt.Errorf("%s: must be a JSON object, not %s", path, kind(raw))
	}
	return obj, nil
}

// str decodes raw as a string; null is reported as such, other types are an error.
func str(raw json.RawMessage) (s string, null bool, err error) {
	if isNull(raw) {
		return "", true, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("must be a string, not %s", kind(raw))
	}
	return s, false, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// kind names the JSON type of a valid document.
func kind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		return "a number"
	}
	return "invalid JSON"
}
