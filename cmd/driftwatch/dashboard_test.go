package main_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
)

// chromium returns the Chromium binary, or skips (fails under DRIFTWATCH_REQUIRE_ALL).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "no Chromium in PATH: apt-get install chromium")
	return ""
}

// browser starts a headless Chromium for the test and returns a context to drive it with.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// newToken creates a token with role and returns its secret.
func (s *server) newToken(name, role string) string {
	s.t.Helper()
	var out struct{ Secret string }
	if code := s.do(http.MethodPost, "/tokens", map[string]string{"name": name, "role": role}, &out); code != http.StatusCreated {
		s.t.Fatalf("create %s token: %d", role, code)
	}
	return out.Secret
}

// TestTheDashboardInARealBrowser signs in with an operator token, filters the drifts, opens
// a CI, acknowledges its drift and sees the change; a viewer sees no operator buttons. A
// screenshot of each is kept as a test artifact.
func TestTheDashboardInARealBrowser(t *testing.T) {
	t.Parallel()
	chromium(t)
	s := startServer(t, t.TempDir())
	s.put(http.MethodPut, "/templates/web-vm", vmTemplate)
	s.observe(observation("dash-1-a", "dash-1", "off"))
	s.observe(observation("dash-2-a", "dash-2", "off"))
	s.waitForDrifts("dash-1", "open", 1)
	s.waitForDrifts("dash-2", "open", 1)
	operator := s.newToken("alice", "operator")
	viewer := s.newToken("victor", "viewer")

	ctx := browser(t)
	var rows, ciRows int
	var screenshot []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.url+"/ui/"),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.SendKeys("#token", operator, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#drifts", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#drifts tbody tr").length`, &rows),
		// Filter on one CI.
		chromedp.SetValue("#filter-ci", "dash-1", chromedp.ByQuery),
		chromedp.Click("#filter-apply", chromedp.ByQuery),
		chromedp.Poll(`location.hash.includes("ci=dash-1") && document.querySelectorAll("#drifts tbody tr").length === 1`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(`document.querySelectorAll("#drifts tbody tr[data-ci='dash-1']").length`, &ciRows),
		// Open the CI and acknowledge its drift.
		chromedp.Click(`#drifts tbody tr[data-ci="dash-1"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#ci-drifts .drift[data-status="open"] button.ack`, chromedp.ByQuery),
		chromedp.Click(`#ci-drifts button.ack`, chromedp.ByQuery),
		chromedp.WaitVisible(`#ci-drifts .drift[data-status="acknowledged"]`, chromedp.ByQuery),
		chromedp.FullScreenshot(&screenshot, 100),
	)
	if err != nil {
		t.Fatalf("operator session: %v", err)
	}
	save(t, "dashboard-operator.png", screenshot)
	if rows != 2 || ciRows != 1 {
		t.Fatalf("%d rows unfiltered (want 2), %d for dash-1 (want 1)", rows, ciRows)
	}
	if l := s.drifts("?ci=dash-1&status=acknowledged"); l.Total != 1 {
		t.Fatalf("the API shows %d acknowledged drifts of dash-1, want 1", l.Total)
	}

	// A viewer: same pages, no buttons.
	vctx := browser(t)
	var buttons, historyRows, coverage, bars, causeRows int
	err = chromedp.Run(vctx,
		chromedp.Navigate(s.url+"/ui/"),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.SendKeys("#token", viewer, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#drifts", chromedp.ByQuery),
		chromedp.Navigate(s.url+"/ui/#/ci/dash-2"),
		chromedp.WaitVisible(`#ci-drifts .drift`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("button.ack, button.remediate").length`, &buttons),
		chromedp.WaitVisible(`#history-table`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#history-table tbody tr").length`, &historyRows),
		chromedp.FullScreenshot(&screenshot, 100),
	)
	if err != nil {
		t.Fatalf("viewer session: %v", err)
	}
	save(t, "dashboard-viewer.png", screenshot)
	if buttons != 0 {
		t.Fatalf("a viewer sees %d operator buttons", buttons)
	}
	if historyRows < 2 {
		t.Fatalf("the CI's history shows %d rows, want its observation and its drift at least", historyRows)
	}
	// The report: coverage at a glance, the timeline as a chart, one row per cause.
	err = chromedp.Run(vctx,
		chromedp.Navigate(s.url+"/ui/#/report"),
		chromedp.WaitVisible(`#coverage`, chromedp.ByQuery),
		chromedp.WaitVisible(`#timeline-chart`, chromedp.ByQuery),
		chromedp.WaitVisible(`#causes-table`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#coverage .stat").length`, &coverage),
		chromedp.Evaluate(`[...document.querySelectorAll("#timeline-chart rect.bar-opened")].filter(r => Number(r.getAttribute("height")) > 0).length`, &bars),
		chromedp.Evaluate(`document.querySelectorAll("#causes-table tbody tr").length`, &causeRows),
		chromedp.FullScreenshot(&screenshot, 100),
	)
	if err != nil {
		t.Fatalf("report page: %v", err)
	}
	save(t, "dashboard-report.png", screenshot)
	if coverage == 0 || bars == 0 || causeRows == 0 {
		t.Fatalf("report page: %d coverage figures, %d timeline bars with drift opened, %d cause rows; want some of each", coverage, bars, causeRows)
	}
}

// save keeps a test artifact (go test -artifacts keeps the directory).
func save(t *testing.T, name string, data []byte) {
	t.Helper()
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s", path)
}
