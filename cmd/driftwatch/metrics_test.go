package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

// scrape reads GET /metrics with the Prometheus text parser.
func (s *server) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// gauge is the value of family's sample whose labels include every pair of want.
func gauge(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == k && l.GetValue() == v
			}
			if !found {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestMetricsParseAndTheirDriftGaugesEqualTheReport(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	for _, ci := range []string{"m-1", "m-2"} {
		s.observe(observation(ci+"-1", ci, "off"))
		s.waitForDrifts(ci, "open", 1)
	}
	s.observe(observation("m-2-2", "m-2", "on"))
	s.waitForDrifts("m-2", "resolved", 1)

	var report struct {
		BySeverity map[string]struct{ Open, Acknowledged, Resolved int } `json:"by_severity"`
		ByCategory map[string]struct{ Open, Acknowledged, Resolved int } `json:"by_category"`
	}
	var fams map[string]*dto.MetricFamily
	proctest.WaitUntil(t, 5*time.Second, "the gauges catch up with the report", func() bool {
		s.do(http.MethodGet, "/drift/report", nil, &report)
		fams = s.scrape()
		for sev, c := range report.BySeverity {
			for status, n := range map[string]int{"open": c.Open, "acknowledged": c.Acknowledged, "resolved": c.Resolved} {
				if v, ok := gauge(fams["driftwatch_drifts_by_severity"], map[string]string{"severity": sev, "status": status}); !ok || int(v) != n {
					return false
				}
			}
		}
		for cat, c := range report.ByCategory {
			if v, ok := gauge(fams["driftwatch_drifts_by_category"], map[string]string{"category": cat, "status": "open"}); !ok || int(v) != c.Open {
				return false
			}
		}
		return len(report.BySeverity) > 0
	})
	if v, _ := gauge(fams["driftwatch_drifts_by_severity"], map[string]string{"status": "open"}); v != 1 {
		t.Errorf("open drifts gauge %v, want 1 (m-1 open, m-2 resolved)", v)
	}
	for _, name := range []string{
		"driftwatch_router_handler_execution_time_seconds", // Watermill's router metrics, per stage
		"driftwatch_eventstore_append_duration_seconds",
		"driftwatch_api_request_duration_seconds",
		"driftwatch_bus_group_lag",
		"driftwatch_projections_lag_events",
		"go_goroutines",
	} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if f := fams["driftwatch_api_request_duration_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && strings.Contains(l.GetValue(), "m-1") {
					t.Errorf("a raw path in the route label: %s", l.GetValue())
				}
			}
		}
	}
	if code := proctest.DoJSON(t, http.MethodGet, s.url+"/metrics", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous GET /metrics: %d, want 401", code)
	}
}
