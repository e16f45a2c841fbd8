package drift

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Verdict is a policy's decision on one diff (see Decide).
type Verdict struct {
	// Drifts are the drifts to open (or keep open): every differing field once at least
	// drift_threshold differ, none before; each with its severity and category and the
	// patch of its changes that are neither ignored nor excepted.
	Drifts []FieldDrift
	// Differs lists every field that still differs, under the threshold too, so that a drift
	// already open on one of them is not resolved.
	Differs []string
	// ThresholdMet says whether Drifts holds the differing fields.
	ThresholdMet bool
	// Excepted lists the fields whose every change is approved by an active exception: no
	// drift opens on them, and one open resolves as excepted.
	Excepted []ExceptedField
	// DetectOnly is the policy's detect_only: no action of any kind.
	DetectOnly bool
	// ActAfter is the earliest time a remediation may run (see NextWindow); zero for at once.
	ActAfter time.Time
}

// ExceptedField names a field an exception covers and the exception.
type ExceptedField struct {
	Field     string    `json:"field"`
	Ticket    string    `json:"ticket"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Resolution is what a drift resolved by the exception says: "excepted by <ticket> until
// <expiry>: <reason>".
func (e ExceptedField) Resolution() string {
	return "excepted by " + e.Ticket + " until " + e.ExpiresAt.UTC().Format(time.RFC3339) + ": " + e.Reason
}

// Decide is the policy engine: the verdict of policy p, at time now, on the field drifts of
// one diff (as the diff stage computed them, sorted by field). For each field it drops the
// changes under p's ignore patterns, then those an active exception approves; a field left
// with no change does not differ (and is excepted when an exception took its last changes).
// The fields that still differ open drifts once there are at least drift_threshold of them,
// each with the severity and category of the first rule that covers it, else p's. A
// detect-only policy asks for nothing; otherwise ActAfter is the next maintenance window.
// Pure: the same inputs give the same verdict.
func Decide(drifts []FieldDrift, p Policy, now time.Time) Verdict {
	p.SetDefaults()
	v := Verdict{Differs: []string{}, DetectOnly: p.DetectOnly}
	var differ []FieldDrift
	for _, fd := range drifts {
		ops := changesOf(fd)
		ops = dropOps(ops, func(path string) bool { return underAny(path, p.Ignore) })
		if len(ops) == 0 {
			continue
		}
		var by *Exception
		ops = dropOps(ops, func(path string) bool {
			e := approving(p.Exceptions, fd, path, now)
			if e != nil && by == nil {
				by = e
			}
			return e != nil
		})
		if len(ops) == 0 {
			v.Excepted = append(v.Excepted, ExceptedField{Field: fd.Field, Ticket: by.Ticket, Reason: by.Reason, ExpiresAt: by.ExpiresAt})
			continue
		}
		fd.Patch = patchOf(fd.Patch, ops)
		fd.Severity, fd.Category = p.Severity, p.Category
		if r, ok := ruleFor(p.Rules, fd.Field, ops); ok {
			if r.Severity != "" {
				fd.Severity = r.Severity
			}
			if r.Category != "" {
				fd.Category = r.Category
			}
		}
		differ = append(differ, fd)
		v.Differs = append(v.Differs, fd.Field)
	}
	v.ThresholdMet = len(differ) > 0 && len(differ) >= p.DriftThreshold
	if v.ThresholdMet {
		v.Drifts = differ
	}
	if !p.DetectOnly {
		v.ActAfter = NextWindow(p.MaintenanceWindows, now)
	}
	return v
}

// change is one operation of a field's patch: its path and, when the patch could be read,
// the operation as written.
type change struct {
	path string
	raw  json.RawMessage
}

// changesOf reads the operations of fd's patch; a drift without a readable patch is one
// change at its field.
func changesOf(fd FieldDrift) []change {
	var raws []json.RawMessage
	if json.Unmarshal(fd.Patch, &raws) != nil || len(raws) == 0 {
		return []change{{path: fd.Field}}
	}
	out := make([]change, 0, len(raws))
	for _, r := range raws {
		var op struct {
			Path string `json:"path"`
		}
		if json.Unmarshal(r, &op) != nil {
			return []change{{path: fd.Field}}
		}
		out = append(out, change{path: op.Path, raw: r})
	}
	return out
}

func dropOps(ops []change, drop func(path string) bool) []change {
	out := ops[:0:0]
	for _, op := range ops {
		if !drop(op.path) {
			out = append(out, op)
		}
	}
	return out
}

// patchOf writes the kept operations back as the field's patch, or keeps the patch as it
// was when it had none to read.
func patchOf(patch json.RawMessage, ops []change) json.RawMessage {
	raws := make([]json.RawMessage, 0, len(ops))
	for _, op := range ops {
		if op.raw == nil {
			return patch
		}
		raws = append(raws, op.raw)
	}
	b, err := json.Marshal(raws)
	if err != nil {
		return patch
	}
	return b
}

func underAny(path string, patterns []string) bool {
	for _, p := range patterns {
		if UnderPointer(path, p) {
			return true
		}
	}
	return false
}

// approving returns the first active exception that approves the change at path of fd: the
// change lies at or below the exception's pattern, and the actual value where the pattern
// matched (at or below fd's field) is the approved one.
func approving(es []Exception, fd FieldDrift, path string, now time.Time) *Exception {
	ps := splitPointer(path)
	for i := range es {
		e := &es[i]
		if !e.Active(now) || !UnderPointer(path, e.Field) {
			continue
		}
		at := "/" + strings.Join(ps[:len(splitPointer(e.Field))], "/")
		if !UnderPointer(at, fd.Field) {
			continue // above the field: its value is not in the drift
		}
		actual, ok := valueAt(fd, at)
		if ok && sameJSON(actual, e.Value) {
			return e
		}
	}
	return nil
}

// valueAt returns the actual value at pointer at, which lies at or below fd's field.
func valueAt(fd FieldDrift, at string) (json.RawMessage, bool) {
	if fd.ActualMissing {
		return nil, false
	}
	rest := splitPointer(at)[len(splitPointer(fd.Field)):]
	if len(rest) == 0 {
		return fd.Actual, true
	}
	dec := json.NewDecoder(bytes.NewReader(fd.Actual))
	dec.UseNumber()
	var cur any
	if dec.Decode(&cur) != nil {
		return nil, false
	}
	for _, tok := range rest {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	b, err := json.Marshal(cur)
	return b, err == nil
}

func sameJSON(a, b json.RawMessage) bool {
	ca, err1 := Canonical(a)
	cb, err2 := Canonical(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// ruleFor returns the first rule that covers a field: the field, or every remaining change
// of it, lies at or below the rule's pattern.
func ruleFor(rules []FieldRule, field string, ops []change) (FieldRule, bool) {
	for _, r := range rules {
		if UnderPointer(field, r.Field) {
			return r, true
		}
		all := true
		for _, op := range ops {
			all = all && UnderPointer(op.path, r.Field)
		}
		if all {
			return r, true
		}
	}
	return FieldRule{}, false
}
