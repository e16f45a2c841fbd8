package main_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/projections/export"
)

// waitVerified waits until the server has judged ci's last observation.
func (s *server) waitVerified(ci string) {
	s.t.Helper()
	proctest.WaitUntil(s.t, 5*time.Second, ci+" is verified", func() bool {
		var out struct {
			Evaluation *json.RawMessage `json:"evaluation"`
		}
		return s.do(http.MethodGet, "/drift/cis/"+ci, nil, &out) == http.StatusOK && out.Evaluation != nil
	})
}

func TestCheckExitsZeroInSyncOneWithDriftAndWritesValidReports(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.observe(observation("web-10-1", "web-10", "on"))
	s.waitVerified("web-10")

	r := s.cli("check")
	wantExit(t, "check with every CI in sync", r, 0)
	if !strings.Contains(r.stdout, "web-10") || !strings.Contains(r.stdout, export.StatusInSync) {
		t.Fatalf("the table does not show web-10 in sync:\n%s", r.stdout)
	}

	s.observe(observation("web-11-1", "web-11", "off"))
	drifted := s.waitForDrifts("web-11", "open", 1).Items[0]

	r = s.cli("check", "--format", "json")
	wantExit(t, "check with an open drift", r, 1)
	var rep export.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--format json: %v\n%s", err, r.stdout)
	}
	status := map[string]string{}
	for _, ci := range rep.CIs {
		status[ci.ID] = ci.Status
		if ci.ID == "web-11" && (len(ci.Drifts) != 1 || ci.Drifts[0].DriftID != drifted.DriftID || ci.Drifts[0].Field != "/power_state") {
			t.Fatalf("web-11's drifts %+v, want the one on /power_state", ci.Drifts)
		}
	}
	if status["web-10"] != export.StatusInSync || status["web-11"] != export.StatusDrifted {
		t.Fatalf("statuses %v, want web-10 in sync and web-11 drifted", status)
	}

	r = s.cli("check", "--format", "junit")
	wantExit(t, "check --format junit", r, 1)
	testenv.ValidJUnit(t, []byte(r.stdout))
	var suites struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil || len(suites.Suites) != 1 || suites.Suites[0].Failures != 1 {
		t.Fatalf("junit: %+v (%v), want one suite with one failure\n%s", suites, err, r.stdout)
	}

	r = s.cli("check", "--format", "sarif")
	wantExit(t, "check --format sarif", r, 1)
	testenv.ValidSARIF(t, []byte(r.stdout))
	var log struct {
		Runs []struct {
			Results []struct {
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil || len(log.Runs) != 1 || len(log.Runs[0].Results) != 1 ||
		log.Runs[0].Results[0].PartialFingerprints["driftwatch/v1"] != drifted.DriftID {
		t.Fatalf("sarif: %+v (%v), want one result for drift %s", log, err, drifted.DriftID)
	}

	// A selection without the drift is in sync; an acknowledged drift is still drift.
	wantExit(t, "check --ci web-10", s.cli("check", "--ci", "web-10"), 0)
	wantExit(t, "check --category security", s.cli("check", "--category", "security"), 0)
	wantExit(t, "check --ci web-10 --ci web-11", s.cli("check", "--ci", "web-10", "--ci", "web-11"), 1)
	if code := s.do(http.MethodPost, "/drift/events/"+drifted.DriftID+"/acknowledge", map[string]string{"comment": "known"}, nil); code != http.StatusOK {
		t.Fatalf("acknowledge: %d", code)
	}
	wantExit(t, "check with an acknowledged drift", s.cli("check", "--ci", "web-11"), 1)
	// A CI the server never heard of was never verified: nobody knows it is in sync.
	r = s.cli("check", "--ci", "web-99", "--format", "json")
	wantExit(t, "check of an unknown CI", r, 1)
	if !strings.Contains(r.stdout, `"status": "never_verified"`) {
		t.Fatalf("an unknown CI is not never_verified:\n%s", r.stdout)
	}
}

func TestCheckExitsTwoOnErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	for name, args := range map[string][]string{
		"unreachable": {"check", "--api", "http://" + proctest.FreeAddr(t)},
		"no_token":    {"check", "--api", s.url},
		"bad_token":   {"check", "--api", s.url, "--token", "dwt_not-a-token-0123456789abcdef"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, args...)
			wantExit(t, name, r, 2)
			if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "driftwatch: check: ") {
				t.Fatalf("stdout %q, stderr %q; want nothing and one line", r.stdout, r.stderr)
			}
		})
	}
}
