package policy_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/policy"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

func diffWith(threshold int, fields ...string) event.Message[event.DiffComputed_v2] {
	d := event.DiffComputed_v2{Observed: event.Observed{CIID: "vm-1"}, Checked: []string{""}, Policy: drift.Policy{
		ID: "p1", CIType: "vm", DriftThreshold: threshold, Severity: drift.SeverityHigh, ActionType: drift.ActionQuarantine,
	}}
	for _, f := range fields {
		d.Drifts = append(d.Drifts, drift.FieldDrift{Field: f})
	}
	return event.Message[event.DiffComputed_v2]{ID: "d1", Fact: d}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	s, err := policy.New(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		in        event.Message[event.DiffComputed_v2]
		met       bool
		proposed  int
		differing []string
	}{
		{"proposes_every_drift_at_the_default_threshold", diffWith(0, "/a"), true, 1, []string{"/a"}},
		{"proposes_nothing_below_the_threshold_but_lists_what_differs", diffWith(3, "/a", "/b"), false, 0, []string{"/a", "/b"}},
		{"proposes_all_once_the_threshold_is_reached", diffWith(2, "/a", "/b"), true, 2, []string{"/a", "/b"}},
		{"proposes_nothing_when_nothing_differs", diffWith(1), false, 0, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := s.Handle(context.Background(), c.in)
			if err != nil {
				t.Fatal(err)
			}
			v := out[0].Fact.(event.PolicyEvaluated_v2)
			if v.ThresholdMet != c.met || len(v.Drifts) != c.proposed || !slices.Equal(v.Differs, c.differing) {
				t.Fatalf("met %v proposed %d differs %v", v.ThresholdMet, len(v.Drifts), v.Differs)
			}
			if v.Severity != drift.SeverityHigh || v.ActionType != drift.ActionQuarantine || v.PolicyID != "p1" {
				t.Fatalf("policy attributes not carried: %+v", v)
			}
		})
	}
}
