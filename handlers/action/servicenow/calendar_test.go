package servicenow_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestInWindowFindsTheApprovedChangesBeingImplementedOnACI(t *testing.T) {
	t.Parallel()
	srv, c := instance(t, func(c *servicenow.Config) { c.CIsInCMDB = true })
	at := time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)
	window := func(from, to time.Duration) (string, string) {
		return at.Add(from).Format(time.DateTime), at.Add(to).Format(time.DateTime)
	}
	change := func(ci, approval, state string, from, to time.Duration, summary string) string {
		start, end := window(from, to)
		return srv.Create(t, servicenowfake.TableChangeRequest, map[string]string{"cmdb_ci": ci, "approval": approval, "state": state,
			"start_date": start, "end_date": end, "short_description": summary})["number"]
	}
	implementing := change("web-01", "approved", "-1", -time.Hour, time.Hour, "patch nginx")
	scheduled := change("web-01", "approved", "-2", -time.Minute, 0, "rotate certificates")
	change("web-01", "requested", "-1", -time.Hour, time.Hour, "not approved yet")
	change("web-01", "approved", "4", -time.Hour, time.Hour, "canceled")
	change("web-01", "approved", "-1", -2*time.Hour, -time.Second, "window ended")
	change("web-01", "approved", "-2", time.Second, time.Hour, "window not open yet")
	change("db-01", "approved", "-1", -time.Hour, time.Hour, "another CI")
	srv.Create(t, servicenowfake.TableChangeRequest, map[string]string{"cmdb_ci": "web-01", "approval": "approved", "state": "-1", "short_description": "no window"})

	got, err := c.InWindow(t.Context(), "web-01", at)
	if err != nil {
		t.Fatal(err)
	}
	start, _ := time.Parse(time.DateTime, at.Add(-time.Hour).Format(time.DateTime))
	want := []action.Change{
		{Number: implementing, Summary: "patch nginx", Start: start, End: start.Add(2 * time.Hour)},
		{Number: scheduled, Summary: "rotate certificates", Start: at.Add(-time.Minute), End: at},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("InWindow = %+v\nwant %+v", got, want)
	}
	q := srv.Requests()[len(srv.Requests())-1].Query
	if q.Get("sysparm_query") != "cmdb_ci.name=web-01^approval=approved^stateIN-2,-1^ORDERBYstart_date" || q.Get("sysparm_display_value") != "false" {
		t.Errorf("query %v", q)
	}
	if got, err := c.InWindow(t.Context(), "web-02", at); err != nil || len(got) != 0 {
		t.Errorf("a CI without changes: %+v, %v", got, err)
	}
}

func TestInWindowRefusesWhatItCannotAskSafely(t *testing.T) {
	t.Parallel()
	srv, c := instance(t, func(c *servicenow.Config) { c.CIsInCMDB = true })
	for _, ci := range []string{"web^ORcmdb_ci.nameISNOTEMPTY", "web\n01", ""} {
		if _, err := c.InWindow(t.Context(), ci, time.Now()); err == nil || !fault.IsPermanent(err) {
			t.Errorf("CI %q: %v, want a permanent refusal", ci, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests were sent for CI ids that cannot be queried", n)
	}
	_, plain := instance(t, nil)
	if _, err := plain.InWindow(t.Context(), "web-01", time.Now()); err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "CIsInCMDB") {
		t.Errorf("without CIsInCMDB: %v", err)
	}
}

func TestInWindowRefusesAnAnswerThatIgnoredTheQuery(t *testing.T) {
	t.Parallel()
	// An instance that dropped the query's conditions answers with other CIs' changes.
	ignoring := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":[{"number":"CHG0030001","approval":"approved","state":"-1","cmdb_ci.name":"db-01",` +
			`"start_date":"2026-12-02 09:00:00","end_date":"2026-12-02 12:00:00"}]}`))
	}))
	t.Cleanup(ignoring.Close)
	c, err := servicenow.New(servicenow.Config{Instance: ignoring.URL, Token: "t", CIsInCMDB: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.InWindow(t.Context(), "web-01", time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error(), "did not apply the query") {
		t.Fatalf("InWindow = %+v, %v; want an error saying the query was not applied", got, err)
	}
}
