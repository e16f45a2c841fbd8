package main_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// checkStub answers GET /drift/cis with CIs in each verification state and GET /drift/events
// with two pages of open drifts for web-a, as a server with the verification member does.
func checkStub(t *testing.T) *httptest.Server {
	t.Helper()
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		switch {
		case r.URL.Path == "/drift/cis":
			fmt.Fprint(w, `{"items":[`+
				`{"ci_id":"web-a","ci_type":"vm","verification":"verified","open_drifts":2},`+
				`{"ci_id":"web-b","ci_type":"vm","verification":"stale","open_drifts":0},`+
				`{"ci_id":"web-c","ci_type":"vm","verification":"never_verified","open_drifts":0},`+
				`{"ci_id":"web-d","ci_type":"vm","open_drifts":0}],"total":4}`)
		case r.URL.Path == "/drift/events" && q.Get("status") == "open" && q.Get("cursor") == "":
			fmt.Fprint(w, `{"items":[{"drift_id":"d-1","status":"open","ci_id":"web-a","ci_type":"vm","field":"/cpu_count",`+
				`"category":"configuration","severity":"high","desired":2,"actual":4,"detected_at":"2026-05-04T12:00:00Z"}],`+
				`"total":2,"next_cursor":"page-2"}`)
		case r.URL.Path == "/drift/events" && q.Get("status") == "open" && q.Get("cursor") == "page-2":
			fmt.Fprint(w, `{"items":[{"drift_id":"d-2","status":"open","ci_id":"web-a","ci_type":"vm","field":"/power_state",`+
				`"category":"state","severity":"medium","desired":"on","actual":"off","detected_at":"2026-05-04T12:00:01Z"}],"total":2}`)
		case r.URL.Path == "/drift/events":
			fmt.Fprint(w, `{"items":[],"total":0}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(stub.Close)
	return stub
}

func TestCheckCountsStaleAndNeverVerifiedCIsAndReadsEveryPage(t *testing.T) {
	t.Parallel()
	stub := checkStub(t)
	check := func(args ...string) cliResult {
		return runCLI(t, append([]string{"check", "--api", stub.URL}, args...)...)
	}

	r := check("--format", "junit")
	wantExit(t, "check of every CI", r, 1)
	testenv.ValidJUnit(t, []byte(r.stdout))
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Errors   int `xml:"errors,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil || len(suites.Suites) != 1 ||
		suites.Suites[0].Failures != 2 || suites.Suites[0].Errors != 2 || suites.Suites[0].Tests != 5 {
		t.Fatalf("junit %+v (%v), want 2 failures (both pages), 2 errors (stale, never verified), 5 tests\n%s", suites, err, r.stdout)
	}

	r = check("--format", "json", "--ci", "web-a", "--ci", "web-b", "--ci", "web-c", "--ci", "web-d")
	wantExit(t, "check --format json", r, 1)
	var rep export.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, ci := range rep.CIs {
		status[ci.ID] = fmt.Sprintf("%s/%d", ci.Status, len(ci.Drifts))
	}
	want := map[string]string{"web-a": "drifted/2", "web-b": "stale/0", "web-c": "never_verified/0", "web-d": "in_sync/0"}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", status, want)
	}
	wantExit(t, "check of a stale CI", check("--ci", "web-b"), 1)
	wantExit(t, "check of a CI without the verification member", check("--ci", "web-d"), 0)
	wantExit(t, "check of web-a's security drifts, which it has none of", check("--ci", "web-a", "--category", "security"), 0)

	r = check("--ci", "web-a", "--ci", "web-d")
	wantExit(t, "check table", r, 1)
	if !strings.Contains(r.stdout, "d-2") || !strings.HasSuffix(r.stdout, "2 CI(s): 1 in sync, 1 drifted (2 drift(s)), 0 stale, 0 never verified\n") {
		t.Fatalf("check table:\n%s", r.stdout)
	}
}

func TestCheckCountsACIWithoutRecentObservationsAsStale(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--expected-interval", "1s")
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.observe(observation("web-12-1", "web-12", "on"))
	s.waitVerified("web-12")
	var r cliResult
	proctest.WaitUntil(t, 15*time.Second, "check says web-12 is stale", func() bool {
		r = s.cli("check", "--ci", "web-12", "--format", "junit")
		return strings.Contains(r.stdout, `type="stale"`)
	})
	wantExit(t, "check of a stale CI", r, 1)
	testenv.ValidJUnit(t, []byte(r.stdout))
}
