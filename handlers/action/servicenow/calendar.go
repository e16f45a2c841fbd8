package servicenow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Change states a change request is in while it is being carried out: Scheduled (-2) and
// Implement (-1) in the stock state model.
var implementing = []string{"-2", "-1"}

// calendarFields are the fields InWindow reads.
const calendarFields = "number,short_description,approval,state,start_date,end_date,cmdb_ci.name"

// maxChanges bounds the changes InWindow reads for one CI.
const maxChanges = 50

// InWindow implements action.Changes: the approved change requests whose configuration item
// (cmdb_ci) is the CMDB record named ciID, Scheduled or in Implement, and whose planned window
// (start_date to end_date) holds at. It needs CIsInCMDB: only then do CI ids name CMDB
// records.
//
// It asks for cmdb_ci.name=<ci>^approval=approved^stateIN-2,-1^ORDERBYstart_date and checks
// every record the instance returns against those conditions and the window (read in UTC,
// as sysparm_display_value=false gives them); a record that does not meet them means the
// instance did not apply the query, an error. A CI id that cannot be put in an encoded query
// (one with ^, which ends a condition, or a control character) is refused permanently.
func (c *Client) InWindow(ctx context.Context, ciID string, at time.Time) ([]action.Change, error) {
	if !c.cfg.CIsInCMDB {
		return nil, fault.Permanent(errors.New("servicenow change calendar: CI ids are not CMDB names (CIsInCMDB is false)"))
	}
	if err := queryable(ciID); err != nil {
		return nil, fault.Permanent(fmt.Errorf("servicenow change calendar of %q: %w", ciID, err))
	}
	var recs []map[string]string
	err := c.do(ctx, call{method: http.MethodGet, path: "api/now/table/change_request", query: url.Values{
		"sysparm_query":                  {"cmdb_ci.name=" + ciID + "^approval=approved^stateIN" + strings.Join(implementing, ",") + "^ORDERBYstart_date"},
		"sysparm_fields":                 {calendarFields},
		"sysparm_display_value":          {"false"},
		"sysparm_exclude_reference_link": {"true"},
		"sysparm_limit":                  {fmt.Sprint(maxChanges)},
	}}, &recs)
	if err != nil {
		return nil, fmt.Errorf("servicenow change calendar of %q: %w", ciID, err)
	}
	var out []action.Change
	for _, r := range recs {
		ch, scheduled, err := change(r, ciID)
		if err != nil {
			return nil, fmt.Errorf("servicenow change calendar of %q: %w", ciID, err)
		}
		if scheduled && ch.Holds(at) {
			out = append(out, ch)
		}
	}
	slices.SortStableFunc(out, func(a, b action.Change) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// queryable refuses a value that would change an encoded query's meaning.
func queryable(v string) error {
	switch {
	case v == "":
		return errors.New("empty")
	case strings.Contains(v, "^"):
		return errors.New("a ^ cannot be put in an encoded query")
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return errors.New("a control character cannot be put in an encoded query")
	}
	return nil
}

// change reads one record of the calendar, checking it meets the query; scheduled is false
// for a change without a planned window (no start_date or end_date).
func change(r map[string]string, ciID string) (ch action.Change, scheduled bool, err error) {
	n := r["number"]
	switch {
	case !strings.EqualFold(r["cmdb_ci.name"], ciID):
		return ch, false, fmt.Errorf("the instance answered with %s, whose cmdb_ci.name is %q: it did not apply the query", n, r["cmdb_ci.name"])
	case r["approval"] != "approved" || !slices.Contains(implementing, r["state"]):
		return ch, false, fmt.Errorf("the instance answered with %s, approval %q, state %q: it did not apply the query", n, r["approval"], r["state"])
	case r["start_date"] == "" || r["end_date"] == "":
		return ch, false, nil
	}
	ch = action.Change{Number: n, Summary: r["short_description"]}
	if ch.Start, err = time.Parse(time.DateTime, r["start_date"]); err != nil {
		return ch, false, fmt.Errorf("%s: start_date: %w", n, err)
	}
	if ch.End, err = time.Parse(time.DateTime, r["end_date"]); err != nil {
		return ch, false, fmt.Errorf("%s: end_date: %w", n, err)
	}
	return ch, true, nil
}

var _ action.Changes = (*Client)(nil)
