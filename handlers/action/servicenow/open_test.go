package servicenow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config func(*servicenow.Config)
		req    func() action.TicketRequest
		check  func(t *testing.T, srv *servicenowfake.Server, tk action.Ticket)
	}{
		{
			name: "looks_for_the_ticket_then_creates_a_change_request_with_the_exact_payload",
			config: func(c *servicenow.Config) {
				c.AssignmentGroup, c.Category = "Network Ops", "software"
			},
			req: func() action.TicketRequest { return request("drift-1:change_request") },
			check: func(t *testing.T, srv *servicenowfake.Server, tk action.Ticket) {
				rs := srv.Requests()
				if len(rs) != 2 || rs[0].Method != http.MethodGet || rs[1].Method != http.MethodPost {
					t.Fatalf("requests = %s, want a GET then a POST", methods(rs))
				}
				wantGet := url.Values{
					"sysparm_query":         {"correlation_id=drift-1:change_request^ORDERBYsys_created_on"},
					"sysparm_limit":         {"1"},
					"sysparm_fields":        {"sys_id,number,state,correlation_id"},
					"sysparm_display_value": {"false"},
				}
				if rs[0].Path != "/api/now/table/change_request" || !reflect.DeepEqual(rs[0].Query, wantGet) {
					t.Errorf("lookup = %s %v, want /api/now/table/change_request %v", rs[0].Path, rs[0].Query, wantGet)
				}
				if rs[1].Path != "/api/now/table/change_request" || rs[1].Query.Get("sysparm_display_value") != "false" {
					t.Errorf("create = %s %v, want /api/now/table/change_request with sysparm_display_value=false", rs[1].Path, rs[1].Query)
				}
				want := map[string]string{
					"short_description": `web-01 /power_state: desired "running", actual "stopped"`,
					"description": "The VM is powered off but NetBox says it should be running.\n\n" +
						"Drift: d-1\nCI: web-01 (vm)\nField: /power_state\nCategory: state\nSeverity: high\nPolicy: policy-vm-config-drift",
					"correlation_id": "drift-1:change_request", "correlation_display": "driftwatch",
					"urgency": "2", "impact": "1", "category": "software", "assignment_group": "Network Ops", "type": "normal",
				}
				if got := body(t, rs[1]); !reflect.DeepEqual(got, want) {
					t.Errorf("payload =\n%v\nwant\n%v", got, want)
				}
				if got := rs[1].Header.Get("Authorization"); !strings.HasPrefix(got, "Basic ") {
					t.Errorf("Authorization = %q, want basic auth", got)
				}
				recs := srv.Records(servicenowfake.TableChangeRequest)
				if len(recs) != 1 {
					t.Fatalf("%d change requests, want 1", len(recs))
				}
				wantTk := action.Ticket{Kind: action.TicketChangeRequest, ID: recs[0]["sys_id"], Number: "CHG0030001",
					URL: srv.URL() + "/nav_to.do?uri=change_request.do%3Fsys_id%3D" + recs[0]["sys_id"], Created: true}
				if tk != wantTk {
					t.Errorf("ticket = %+v, want %+v", tk, wantTk)
				}
				if recs[0]["priority"] != "2" || recs[0]["state"] != "-5" {
					t.Errorf("priority %s state %s, want 2 and -5 (New)", recs[0]["priority"], recs[0]["state"])
				}
			},
		},
		{
			name:   "sets_cmdb_ci_only_when_the_cis_are_in_the_cmdb",
			config: func(c *servicenow.Config) { c.CIsInCMDB = true },
			req:    func() action.TicketRequest { return request("drift-1:change_request") },
			check: func(t *testing.T, srv *servicenowfake.Server, _ action.Ticket) {
				if got := srv.Records(servicenowfake.TableChangeRequest)[0]["cmdb_ci"]; got != "web-01" {
					t.Errorf("cmdb_ci = %q, want web-01", got)
				}
			},
		},
		{
			name:   "authenticates_with_a_bearer_token",
			config: func(c *servicenow.Config) { c.Username, c.Password, c.Token = "", "", creds.Token },
			req:    func() action.TicketRequest { return request("drift-1:change_request") },
			check: func(t *testing.T, srv *servicenowfake.Server, tk action.Ticket) {
				if got := srv.Requests()[1].Header.Get("Authorization"); got != "Bearer "+creds.Token || !tk.Created {
					t.Errorf("Authorization = %q, created %v; want the bearer token and a new ticket", got, tk.Created)
				}
			},
		},
		{
			name:   "opens_an_incident_whose_work_notes_name_the_change_request",
			config: func(c *servicenow.Config) { c.CallerID = "driftwatch.integration" },
			req: func() action.TicketRequest {
				r := request("drift-1:incident")
				r.Kind, r.Related = action.TicketIncident, "CHG0030007"
				return r
			},
			check: func(t *testing.T, srv *servicenowfake.Server, tk action.Ticket) {
				if tk.Number != "INC0010001" || tk.Kind != action.TicketIncident || !tk.Created {
					t.Fatalf("ticket = %+v, want a new INC0010001", tk)
				}
				rec, _ := srv.Record(servicenowfake.TableIncident, tk.ID)
				if rec["caller_id"] != "driftwatch.integration" || rec["type"] != "" && rec["type"] != "<nil>" {
					t.Errorf("caller_id = %q, want driftwatch.integration", rec["caller_id"])
				}
				if _, has := body(t, srv.Requests()[1])["type"]; has {
					t.Error("an incident was sent a change type")
				}
				notes := srv.WorkNotes(tk.ID)
				if len(notes) != 1 || !strings.Contains(notes[0], "CHG0030007") {
					t.Errorf("work notes = %q, want one naming CHG0030007", notes)
				}
				if n := len(srv.Records(servicenowfake.TableChangeRequest)); n != 0 {
					t.Errorf("%d change requests opened for an incident", n)
				}
			},
		},
		{
			name: "cuts_a_long_short_description_to_160_characters_on_a_rune_boundary",
			req: func() action.TicketRequest {
				r := request("drift-1:change_request")
				r.ShortDescription = strings.Repeat("désiré ≠ réel\n", 30)
				return r
			},
			check: func(t *testing.T, srv *servicenowfake.Server, _ action.Ticket) {
				got := srv.Records(servicenowfake.TableChangeRequest)[0]["short_description"]
				if n := utf8.RuneCountInString(got); n > 160 || n < 150 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || strings.Contains(got, "\n") {
					t.Errorf("short_description = %q (%d runes), want one valid line of at most 160 ending in …", got, n)
				}
			},
		},
		{
			name: "writes_a_correlation_id_longer_than_100_characters_as_its_hash",
			req:  func() action.TicketRequest { return request(strings.Repeat("drift-1:", 20)) },
			check: func(t *testing.T, srv *servicenowfake.Server, _ action.Ticket) {
				want := hashed(strings.Repeat("drift-1:", 20))
				if got := srv.Records(servicenowfake.TableChangeRequest)[0]["correlation_id"]; got != want {
					t.Errorf("correlation_id = %q, want %q", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, tt.config)
			tt.check(t, srv, open(t, c, tt.req()))
		})
	}
}

func TestOpenFindsTheTicketItOpenedBefore(t *testing.T) {
	t.Parallel()
	for _, corr := range []string{"drift-1:change_request", strings.Repeat("x", 101), "Drift^1"} {
		t.Run(fmt.Sprintf("for_a_%d_character_id", len(corr)), func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, nil)
			first := open(t, c, request(corr))
			n := len(srv.Requests())
			again := open(t, c, request(corr))
			if again.Created || again.ID != first.ID || again.Number != first.Number {
				t.Errorf("again = %+v, want the ticket %+v, not created", again, first)
			}
			if rs := srv.Requests()[n:]; len(rs) != 1 || rs[0].Method != http.MethodGet {
				t.Errorf("the second open sent %s, want one GET", methods(rs))
			}
			if recs := srv.Records(servicenowfake.TableChangeRequest); len(recs) != 1 {
				t.Errorf("%d change requests, want 1", len(recs))
			}
		})
	}
}

func TestOpenRetriedAfterATimedOutCreateFindsTheSameTicket(t *testing.T) {
	t.Parallel()
	srv, c := instance(t, func(c *servicenow.Config) { c.Timeout = time.Second })
	srv.Inject(servicenowfake.Fault{Method: http.MethodPost, Table: servicenowfake.TableChangeRequest, Stall: true})

	_, err := c.Open(t.Context(), request("drift-1:change_request"))
	if err == nil || fault.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("open with a stalled create: err = %v, want a retryable deadline error", err)
	}
	tk := open(t, c, request("drift-1:change_request"))
	recs := srv.Records(servicenowfake.TableChangeRequest)
	if len(recs) != 1 {
		t.Fatalf("%d change requests after the retry, want exactly 1", len(recs))
	}
	if tk.Created || tk.ID != recs[0]["sys_id"] || tk.Number != recs[0]["number"] {
		t.Errorf("retry = %+v, want the record the timed-out create made (%s %s), not created", tk, recs[0]["sys_id"], recs[0]["number"])
	}
}

func TestConcurrentOpensForManyDriftsOpenOneChangeRequestEach(t *testing.T) {
	t.Parallel()
	const drifts = 200
	srv, c := instance(t, func(c *servicenow.Config) { c.Timeout = 2 * time.Second })
	srv.Inject(servicenowfake.Fault{Method: http.MethodPost, Table: servicenowfake.TableChangeRequest, Stall: true})

	tickets := make([]action.Ticket, drifts)
	errs := make([]error, drifts)
	var wg sync.WaitGroup
	for i := range drifts {
		wg.Go(func() {
			r := request(fmt.Sprintf("drift-%d:change_request", i))
			for range 5 { // the router's retry, in short
				tickets[i], errs[i] = c.Open(t.Context(), r)
				if errs[i] == nil || fault.IsPermanent(errs[i]) {
					return
				}
			}
		})
	}
	wg.Wait()

	byNumber := map[string]string{}
	for _, r := range srv.Records(servicenowfake.TableChangeRequest) {
		byNumber[r["number"]] = r["correlation_id"]
	}
	for i, tk := range tickets {
		if errs[i] != nil {
			t.Errorf("drift %d: %v", i, errs[i])
			continue
		}
		if want := fmt.Sprintf("drift-%d:change_request", i); byNumber[tk.Number] != want {
			t.Errorf("drift %d got %s, whose correlation id is %q", i, tk.Number, byNumber[tk.Number])
		}
	}
	posts, stalled := 0, 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
		if r.Stalled {
			stalled++
		}
	}
	if len(byNumber) != drifts || posts != drifts || stalled != 1 {
		t.Errorf("%d change requests from %d creates (%d stalled), want %d from %d (1 stalled)", len(byNumber), posts, stalled, drifts, drifts)
	}
}

func TestSeverityMapsToUrgencyAndImpact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		severity                  drift.Severity
		urgency, impact, priority string
	}{
		{drift.SeverityCritical, "1", "1", "1"},
		{drift.SeverityHigh, "2", "1", "2"},
		{drift.SeverityMedium, "2", "2", "3"},
		{drift.SeverityLow, "3", "2", "4"},
		{"", "3", "3", "5"}, // the instance's defaults
	}
	for _, tt := range tests {
		t.Run("a_"+string(tt.severity)+"_drift_gets_priority_"+tt.priority, func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, nil)
			r := request("drift-1:change_request")
			r.Severity = tt.severity
			tk := open(t, c, r)
			rec, _ := srv.Record(servicenowfake.TableChangeRequest, tk.ID)
			if rec["urgency"] != tt.urgency || rec["impact"] != tt.impact || rec["priority"] != tt.priority {
				t.Errorf("urgency/impact/priority = %s/%s/%s, want %s/%s/%s", rec["urgency"], rec["impact"], rec["priority"], tt.urgency, tt.impact, tt.priority)
			}
		})
	}
}

func TestACorrelationIDCannotMatchAnotherTicket(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("drift-2:", 20)
	tests := []struct{ name, other, id string }{
		{"an_or_condition_in_the_id_cannot_reach_another_drift", "drift-2", "drift-1^ORcorrelation_id=drift-2"},
		{"a_like_condition_in_the_id_cannot_widen_the_match", "drift-2", "nothing^ORcorrelation_idLIKEdrift"},
		{"a_not_empty_condition_cannot_match_every_ticket", "drift-2", "^ORcorrelation_idISNOTEMPTY"},
		{"an_upper_case_id_does_not_share_its_lower_case_twins_ticket", "drift-2", "DRIFT-2"},
		{"an_id_that_looks_hashed_does_not_take_the_ticket_of_the_id_it_hashes", long, hashed(long)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, nil)
			other := open(t, c, request(tt.other))
			// The case can fail: the id, queried as it is, matches the other ticket.
			if got := rawLookup(t, srv, tt.id); got != other.Number {
				t.Fatalf("the raw query for %q found %q, want %s: the case proves nothing", tt.id, got, other.Number)
			}
			tk := open(t, c, request(tt.id))
			if !tk.Created || tk.Number == other.Number {
				t.Fatalf("open %q = %+v, want a new ticket, not %s", tt.id, tk, other.Number)
			}
			rec, _ := srv.Record(servicenowfake.TableChangeRequest, tk.ID)
			if rec["correlation_id"] != hashed(tt.id) {
				t.Errorf("correlation_id = %q, want %q", rec["correlation_id"], hashed(tt.id))
			}
			if again := open(t, c, request(tt.id)); again.Created || again.ID != tk.ID {
				t.Errorf("open %q again = %+v, want %s", tt.id, again, tk.Number)
			}
		})
	}
}

// rawLookup asks the fake for the first change request matching correlation_id=<id> as it is.
func rawLookup(t *testing.T, srv *servicenowfake.Server, id string) string {
	t.Helper()
	q := url.Values{"sysparm_query": {"correlation_id=" + id}, "sysparm_limit": {"1"}, "sysparm_fields": {"number"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL()+"/api/now/table/change_request?"+q.Encode(), nil)
	req.SetBasicAuth(creds.Username, creds.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result []struct{ Number string } `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Result) == 0 {
		return ""
	}
	return out.Result[0].Number
}

func TestOpenRefusesABadRequestWithoutAsking(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*action.TicketRequest)
	}{
		{"refuses_an_empty_correlation_id", func(r *action.TicketRequest) { r.CorrelationID = "" }},
		{"refuses_an_unknown_kind", func(r *action.TicketRequest) { r.Kind = "problem" }},
		{"refuses_an_unknown_severity", func(r *action.TicketRequest) { r.Severity = "urgent" }},
		{"refuses_a_ticket_with_nothing_to_describe_it", func(r *action.TicketRequest) { r.ShortDescription, r.CIID = " ", "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, nil)
			r := request("drift-1:change_request")
			tt.change(&r)
			if _, err := c.Open(t.Context(), r); !fault.IsPermanent(err) {
				t.Errorf("err = %v, want permanent", err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("sent %d requests", n)
			}
		})
	}
}
