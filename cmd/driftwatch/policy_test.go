package main_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

// historyTypes lists the short types of a CI's history ("drift.detected", "action.requested").
func (s *server) historyTypes(ci string) []string {
	s.t.Helper()
	var page struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	if code := s.do(http.MethodGet, "/drift/cis/"+ci+"/history", nil, &page); code != http.StatusOK {
		s.t.Fatalf("history of %s: %d", ci, code)
	}
	var out []string
	for _, e := range page.Items {
		out = append(out, e.Type)
	}
	return out
}

// TestThePolicyEngineAgainstARunningServer: detect-only never acts, a maintenance window
// sets when remediation may run, an expired exception stops suppressing (a reconcile after
// the expiry opens the drift), and a simulation over that history says what the live policy
// did.
func TestThePolicyEngineAgainstARunningServer(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	policy := func(id string, extra map[string]any) map[string]any {
		p := map[string]any{"id": id, "ci_type": "vm", "ci_ids": []string{id + "-*"}, "action_type": "quarantine", "auto_remediate": true}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	now := time.Now().UTC()
	window := now.Add(time.Hour).Truncate(time.Second)
	expiry := now.Add(3 * time.Second).Truncate(time.Second)
	exception := map[string]any{"field": "/power_state", "value": "off", "expires_at": expiry.Format(time.RFC3339), "ticket": "CHG0042", "reason": "parked"}
	s.put(http.MethodPost, "/drift/policies", policy("ctl", nil))
	s.put(http.MethodPost, "/drift/policies", policy("do", map[string]any{"detect_only": true, "notify": []string{"ops@example.com"}}))
	s.put(http.MethodPost, "/drift/policies", policy("mw", map[string]any{"maintenance_windows": []map[string]any{
		{"from": window.Format(time.RFC3339), "to": window.Add(time.Hour).Format(time.RFC3339)}}}))
	s.put(http.MethodPost, "/drift/policies", policy("ex", map[string]any{"exceptions": []map[string]any{exception}}))

	s.observe(observation("do-1", "do-01", "off"))
	s.observe(observation("mw-1", "mw-01", "off"))
	s.observe(observation("ex-1", "ex-01", "off"))
	s.observe(observation("ctl-1", "ctl-01", "off"))

	// The control CI's quarantine is asked for; the detect-only CI's drift, opened before it,
	// never is.
	proctest.WaitUntil(t, 5*time.Second, "ctl-01's quarantine is asked for", func() bool {
		return slices.Contains(s.historyTypes("ctl-01"), "action.requested")
	})
	d := s.waitForDrifts("do-01", "open", 1).Items[0]
	var detectOnly struct {
		DetectOnly bool     `json:"detect_only"`
		Notify     []string `json:"notify"`
	}
	s.do(http.MethodGet, "/drift/events/"+d.DriftID, nil, &detectOnly)
	if !detectOnly.DetectOnly || len(detectOnly.Notify) != 1 {
		t.Fatalf("do-01's drift %+v, want detect_only with its notification target", detectOnly)
	}
	if types := s.historyTypes("do-01"); slices.Contains(types, "action.requested") {
		t.Fatalf("detect-only do-01 asked for an action: %q", types)
	}

	// Outside its window, mw-01's remediation waits for the window to open.
	var windowed struct {
		ActAfter time.Time `json:"act_after"`
	}
	s.do(http.MethodGet, "/drift/events/"+s.waitForDrifts("mw-01", "open", 1).Items[0].DriftID, nil, &windowed)
	if !windowed.ActAfter.Equal(window) {
		t.Fatalf("mw-01's drift may act after %s, want %s", windowed.ActAfter, window)
	}

	// ex-01 is off as the exception approves: judged, no drift, until the exception expires.
	var ci struct {
		Evaluation *struct {
			ExceptedUntil time.Time `json:"excepted_until"`
		} `json:"evaluation"`
	}
	proctest.WaitUntil(t, 2*time.Second, "ex-01 is judged", func() bool {
		s.do(http.MethodGet, "/drift/cis/ex-01", nil, &ci)
		return ci.Evaluation != nil
	})
	if !ci.Evaluation.ExceptedUntil.Equal(expiry) || s.drifts("?ci=ex-01").Total != 0 {
		t.Fatalf("ex-01 judged %+v with %d drifts, want excepted until %s and none", ci.Evaluation, s.drifts("?ci=ex-01").Total, expiry)
	}
	proctest.WaitUntil(t, 10*time.Second, "the exception expires", func() bool { return !time.Now().Before(expiry) })
	if code := s.do(http.MethodPost, "/drift/reconcile", nil, nil); code != http.StatusAccepted {
		t.Fatalf("reconcile: %d", code)
	}
	s.waitForDrifts("ex-01", "open", 1)

	// Over that history the simulation of the policy as it stands says what it did: the
	// first verdict excepted, the one after the expiry opened and asked for a quarantine.
	var sim struct {
		Diffs    int `json:"diffs"`
		Excepted int `json:"excepted"`
		Opened   []struct {
			CIID string `json:"ci_id"`
		} `json:"opened"`
		Actions []struct {
			Kind string `json:"kind"`
		} `json:"actions"`
	}
	if code := s.do(http.MethodPost, "/drift/policies/ex/simulate", policy("ex", map[string]any{"exceptions": []map[string]any{exception}}), &sim); code != http.StatusOK {
		t.Fatalf("simulate: %d", code)
	}
	if sim.Diffs != 2 || sim.Excepted != 1 || len(sim.Opened) != 1 || sim.Opened[0].CIID != "ex-01" || len(sim.Actions) != 1 || sim.Actions[0].Kind != "quarantine" {
		t.Fatalf("simulation %+v", sim)
	}
}
