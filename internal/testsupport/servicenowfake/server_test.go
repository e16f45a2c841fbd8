package servicenowfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
)

var creds = servicenowfake.Config{Username: "admin", Password: "pw", Token: "tok"}

// send makes one request as admin and returns the status and decoded body.
func send(t *testing.T, srv *servicenowfake.Server, method, path, body string, auth func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth == nil {
		req.SetBasicAuth(creds.Username, creds.Password)
	} else {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s answered %d %q: %v", method, path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out
}

func errorOf(out map[string]any) (message, detail string) {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	d, _ := e["detail"].(string)
	return m, d
}

func result(out map[string]any) map[string]any {
	r, _ := out["result"].(map[string]any)
	return r
}

const create = "/api/now/table/change_request"

func TestAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		auth   func(*http.Request)
		status int
	}{
		{"accepts_basic_auth", func(r *http.Request) { r.SetBasicAuth("admin", "pw") }, http.StatusOK},
		{"accepts_a_bearer_token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }, http.StatusOK},
		{"refuses_a_wrong_password", func(r *http.Request) { r.SetBasicAuth("admin", "nope") }, http.StatusUnauthorized},
		{"refuses_a_wrong_token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"refuses_no_credentials", func(*http.Request) {}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := servicenowfake.Start(t, creds)
			status, out := send(t, srv, http.MethodGet, create, "", tt.auth)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if status == http.StatusUnauthorized {
				m, d := errorOf(out)
				if m != "User Not Authenticated" || d != "Required to provide Auth information" || out["status"] != "failure" {
					t.Errorf("body %v, want ServiceNow's 401 body", out)
				}
			}
		})
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	srv := servicenowfake.Start(t, creds)
	var numbers []string
	for range 2 {
		status, out := send(t, srv, http.MethodPost, create, `{"short_description":"x","urgency":"1","impact":2}`, nil)
		r := result(out)
		if status != http.StatusCreated || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(r["sys_id"].(string)) {
			t.Fatalf("create: %d %v", status, out)
		}
		if r["state"] != "-5" || r["priority"] != "2" || r["active"] != "true" || r["impact"] != "2" {
			t.Errorf("record %v, want state -5, priority 2, active, impact 2", r)
		}
		numbers = append(numbers, r["number"].(string))
	}
	_, out := send(t, srv, http.MethodPost, "/api/now/table/incident", `{"short_description":"y"}`, nil)
	numbers = append(numbers, result(out)["number"].(string))
	if strings.Join(numbers, ",") != "CHG0030001,CHG0030002,INC0010001" {
		t.Errorf("numbers %v, want CHG0030001, CHG0030002, INC0010001", numbers)
	}
}

func TestWritesAreValidated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body, mentions string
	}{
		{"refuses_a_field_the_table_does_not_have", create, `{"short_description":"x","u_drift":"1"}`, "u_drift"},
		{"refuses_caller_id_on_a_change_request", create, `{"caller_id":"bob"}`, "caller_id"},
		{"refuses_a_change_type_on_an_incident", "/api/now/table/incident", `{"type":"normal"}`, "type"},
		{"refuses_an_urgency_outside_1_to_3", create, `{"urgency":"4"}`, "urgency"},
		{"refuses_an_unknown_state", "/api/now/table/incident", `{"state":"5"}`, "state"},
		{"refuses_an_incident_close_code_on_a_change", create, `{"close_code":"Solution provided"}`, "close_code"},
		{"refuses_a_short_description_over_160_characters", create, `{"short_description":"` + strings.Repeat("é", 161) + `"}`, "160"},
		{"refuses_closing_without_close_code_and_notes", create, `{"state":"3"}`, "mandatory"},
		{"refuses_resolving_an_incident_without_notes", "/api/now/table/incident", `{"state":"6","close_code":"Duplicate"}`, "close_notes"},
		{"refuses_a_read_only_field", create, `{"number":"CHG1"}`, "read-only"},
		{"refuses_an_object_value", create, `{"short_description":{"a":1}}`, "short_description"},
		{"refuses_a_body_that_is_not_json", create, `short_description=x`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := servicenowfake.Start(t, creds)
			status, out := send(t, srv, http.MethodPost, tt.path, tt.body, nil)
			m, d := errorOf(out)
			if status != http.StatusBadRequest || !strings.Contains(m+" "+d, tt.mentions) {
				t.Errorf("answer %d %v, want 400 mentioning %q", status, out, tt.mentions)
			}
			if n := len(srv.Records(servicenowfake.TableChangeRequest)) + len(srv.Records(servicenowfake.TableIncident)); n != 0 {
				t.Errorf("%d records created", n)
			}
		})
	}
}

func TestUpdateAndRead(t *testing.T) {
	t.Parallel()
	srv := servicenowfake.Start(t, creds)
	_, out := send(t, srv, http.MethodPost, create, `{"short_description":"x","work_notes":"first"}`, nil)
	id := result(out)["sys_id"].(string)
	status, out := send(t, srv, http.MethodPatch, create+"/"+id+"?sysparm_fields=state,close_code,work_notes,active",
		`{"state":"3","close_code":"successful","close_notes":"done","work_notes":"second"}`, nil)
	want := map[string]any{"state": "3", "close_code": "successful", "work_notes": "", "active": "false"}
	if r := result(out); status != http.StatusOK || len(r) != len(want) || r["state"] != "3" || r["active"] != "false" || r["work_notes"] != "" {
		t.Errorf("patch: %d %v, want %v", status, out, want)
	}
	if notes := srv.WorkNotes(id); strings.Join(notes, "|") != "first|second" {
		t.Errorf("work notes %q, want first and second", notes)
	}
	if status, out := send(t, srv, http.MethodGet, create+"/"+strings.Repeat("0", 32), "", nil); status != http.StatusNotFound {
		t.Errorf("get of an unknown sys_id: %d %v, want 404", status, out)
	}
	status, out = send(t, srv, http.MethodGet, "/api/now/table/sys_journal_field?sysparm_query=element_id="+id+"%5EvalueLIKEsec", "", nil)
	if list, _ := out["result"].([]any); status != http.StatusOK || len(list) != 1 {
		t.Errorf("journal query: %d %v, want the second note", status, out)
	}
}

func TestQueries(t *testing.T) {
	t.Parallel()
	srv := servicenowfake.Start(t, creds)
	for _, c := range []string{"a-1", "a-2", "b-1"} {
		send(t, srv, http.MethodPost, create, `{"correlation_id":"`+c+`"}`, nil)
	}
	tests := []struct {
		name, query string
		want        int
	}{
		{"matches_an_exact_value", "correlation_id=a-1^ORDERBYsys_created_on", 1},
		{"matches_without_regard_to_case", "correlation_id=A-1", 1},
		{"reads_or_conditions", "correlation_id=a-1^ORcorrelation_id=b-1", 2},
		{"reads_and_conditions", "correlation_idSTARTSWITHa^correlation_idLIKE2", 1},
		{"drops_a_condition_on_an_unknown_field_as_an_instance_does", "u_nothing=1", 3},
		{"honours_the_limit", "correlation_idLIKE-&sysparm_limit=2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, extra, _ := strings.Cut(tt.query, "&")
			path := create + "?sysparm_query=" + strings.ReplaceAll(q, "^", "%5E") + "&sysparm_fields=number"
			if extra != "" {
				path += "&" + extra
			}
			status, out := send(t, srv, http.MethodGet, path, "", nil)
			if list, _ := out["result"].([]any); status != http.StatusOK || len(list) != tt.want {
				t.Errorf("%s: %d %v, want %d records", tt.query, status, out, tt.want)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("an_error_fault_answers_once_without_acting", func(t *testing.T) {
		t.Parallel()
		srv := servicenowfake.Start(t, creds)
		srv.Inject(servicenowfake.Fault{Method: http.MethodPost, Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+create, strings.NewReader(`{}`))
		req.SetBasicAuth("admin", "pw")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" || len(srv.Records(servicenowfake.TableChangeRequest)) != 0 {
			t.Errorf("answer %d Retry-After %q, want 429, 3 and no record", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if status, _ := send(t, srv, http.MethodPost, create, `{}`, nil); status != http.StatusCreated {
			t.Errorf("the next create: %d, want 201", status)
		}
	})
	t.Run("a_stall_acts_and_withholds_the_answer", func(t *testing.T) {
		t.Parallel()
		srv := servicenowfake.Start(t, creds)
		srv.Inject(servicenowfake.Fault{Method: http.MethodPost, Stall: true})
		c := &http.Client{Timeout: 200 * time.Millisecond}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+create, strings.NewReader(`{}`))
		req.SetBasicAuth("admin", "pw")
		req.Header.Set("Content-Type", "application/json")
		if resp, err := c.Do(req); err == nil {
			_ = resp.Body.Close()
			t.Fatalf("a stalled create answered %d", resp.StatusCode)
		}
		rs := srv.Requests()
		if len(srv.Records(servicenowfake.TableChangeRequest)) != 1 || len(rs) != 1 || !rs[0].Stalled || rs[0].Status != http.StatusCreated {
			t.Errorf("records %d, requests %+v; want the record created and the answer withheld", len(srv.Records(servicenowfake.TableChangeRequest)), rs)
		}
	})
}
