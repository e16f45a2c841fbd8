package ingest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Limits of what an observation may carry; the door refuses anything beyond them, so that
// everything it accepts flows through every later stage and bus entry.
const (
	// MaxIDBytes bounds ci_id, template_id, id, source and agent_id.
	MaxIDBytes = 256
	// MaxTypeBytes bounds ci_type.
	MaxTypeBytes = 128
	// MaxScope bounds the scope's entries.
	MaxScope = 256
	// MaxDetailBytes bounds one detail; longer ones are cut, and say so.
	MaxDetailBytes = 64 << 10
	// MaxDetailsBytes bounds all details of one observation together; those beyond are cut.
	MaxDetailsBytes = 512 << 10
)

// admitted is an observation that passed the checks that need nothing but itself.
type admitted struct {
	drift.Observation
	scope []string
	// hash is the state's canonical hash; canonical is its canonical form when it had to be
	// computed (nil when the same bytes were seen before).
	hash      string
	canonical json.RawMessage
	// id identifies the observation: the source's id, or one derived from its content.
	id string
}

// admit checks and normalises a submission, reporting every bad field at once as a
// permanent error. It decides nothing about the CI.
func (s *Ingest) admit(in event.Message[event.ObservationSubmitted_v1]) (admitted, error) {
	o := in.Fact.Observation
	o.CIID = strings.TrimSpace(o.CIID)
	o.CIType = strings.ToLower(strings.TrimSpace(o.CIType))
	a := admitted{Observation: o}
	var errs []error
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"ci_id", o.CIID, MaxIDBytes}, {"ci_type", o.CIType, MaxTypeBytes}, {"template_id", o.TemplateID, MaxIDBytes},
		{"id", o.ID, MaxIDBytes}, {"source", o.Source, MaxIDBytes}, {"agent_id", o.AgentID, MaxIDBytes},
	} {
		if err := checkID(f.value, f.max); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if o.CIID == "" {
		errs = append(errs, errors.New("ci_id: required"))
	}
	if o.CIType == "" && o.TemplateID == "" {
		errs = append(errs, errors.New("ci_type: required unless template_id is set"))
	}
	now := s.deps.Now()
	if o.ObservedAt.IsZero() {
		a.ObservedAt = in.Time
		if a.ObservedAt.IsZero() {
			a.ObservedAt = now
		}
	} else if o.ObservedAt.After(now.Add(s.cfg.MaxFutureSkew)) {
		errs = append(errs, fmt.Errorf("observed_at: %s is more than %s in the future (this server's clock says %s)",
			o.ObservedAt.UTC().Format(time.RFC3339), s.cfg.MaxFutureSkew, now.UTC().Format(time.RFC3339)))
	}
	a.ObservedAt = a.ObservedAt.UTC()
	if len(in.Fact.Scope) > MaxScope {
		errs = append(errs, fmt.Errorf("scope: %d entries, at most %d", len(in.Fact.Scope), MaxScope))
	}
	for i, f := range in.Fact.Scope {
		p := drift.FieldPointer(strings.TrimSpace(f))
		if p == "" {
			errs = append(errs, fmt.Errorf("scope[%d]: must name a top-level field", i))
			continue
		}
		if err := drift.ValidPointer(p); err != nil {
			errs = append(errs, fmt.Errorf("scope[%d]: %w", i, err))
		}
		a.scope = append(a.scope, p)
	}
	if err := s.admitState(&a); err != nil {
		errs = append(errs, err)
	}
	a.Details = cutDetails(o.Details)
	if err := errors.Join(errs...); err != nil {
		return admitted{}, fault.Invalid("observation "+in.ID, err)
	}
	a.id = o.ID
	if a.id == "" {
		a.id = event.DeriveID("content", a.ObservedAt.Format(time.RFC3339Nano), a.hash)
	}
	if a.Source == "" {
		a.Source = "api"
	}
	return a, nil
}

// admitState checks the state and finds its canonical hash: from the cache of states seen
// before, byte for byte, or by canonicalising it.
func (s *Ingest) admitState(a *admitted) error {
	if len(a.State) == 0 {
		return errors.New("state: required")
	}
	if len(a.State) > drift.MaxStateBytes {
		return fmt.Errorf("state: %d bytes, at most %d", len(a.State), drift.MaxStateBytes)
	}
	sum := sha256.Sum256(a.State)
	hash, seen := s.raw.get(sum)
	if !seen {
		c, err := drift.CanonicalObject(a.State)
		if err != nil {
			return fmt.Errorf("state: %w", err)
		}
		hash = drift.HashCanonical(c)
		a.canonical = c
		s.raw.put(sum, hash)
	}
	a.hash = hash
	// A signed observation's state_hash is checked with its signature: a mismatch is then a
	// rejection to record, not merely bad input.
	if a.StateHash != "" && a.StateHash != hash && a.AgentID == "" && a.Signature == "" {
		return fmt.Errorf("state_hash: %q does not match the state (sha256 of canonical JSON is %q)", a.StateHash, hash)
	}
	return nil
}

// checkID refuses ids that are too long, not UTF-8, or hold control characters (a newline in
// a CI id would forge log lines and stream names).
func checkID(v string, max int) error {
	switch {
	case len(v) > max:
		return fmt.Errorf("%d bytes, at most %d", len(v), max)
	case !utf8.ValidString(v):
		return errors.New("not valid UTF-8")
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) }):
		return errors.New("contains a control character")
	}
	return nil
}

// cutDetails bounds the evidence an observation carries: each detail to MaxDetailBytes,
// all of them to MaxDetailsBytes, marking what was cut.
func cutDetails(d map[string]string) map[string]string {
	if len(d) == 0 {
		return nil
	}
	out := make(map[string]string, len(d))
	budget := MaxDetailsBytes
	for _, k := range sortedKeys(d) {
		v := d[k]
		limit := min(MaxDetailBytes, budget)
		if len(v) > limit {
			v = cut(v, max(0, limit-64)) + fmt.Sprintf("\n[cut: %d of %d bytes shown]", max(0, limit-64), len(d[k]))
		}
		budget -= len(v)
		out[k] = v
		if budget <= 0 {
			break
		}
	}
	return out
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
