package servicenow_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestUpdate(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 22, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		severity drift.Severity // of the ticket opened
		run      func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket)
	}{
		{
			name: "adds_a_work_note", severity: drift.SeverityHigh,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				if err := c.Update(t.Context(), tk, action.TicketUpdate{Note: "Remediation run 42 failed.", At: at}); err != nil {
					t.Fatal(err)
				}
				notes := srv.WorkNotes(tk.ID)
				if len(notes) != 1 || !strings.HasPrefix(notes[0], "Remediation run 42 failed.\n\ndriftwatch-update:") {
					t.Errorf("work notes = %q, want the note and its marker", notes)
				}
				rs := srv.Requests()
				patch := rs[len(rs)-1]
				if got := body(t, patch); patch.Method != http.MethodPatch || len(got) != 1 || got["work_notes"] != notes[0] {
					t.Errorf("last request %s %s %v, want a PATCH of work_notes only", patch.Method, patch.Path, got)
				}
			},
		},
		{
			name: "raises_urgency_and_impact_to_a_higher_severity", severity: drift.SeverityLow,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				if err := c.Update(t.Context(), tk, action.TicketUpdate{Note: "Now on 3 hosts.", Severity: drift.SeverityCritical, At: at}); err != nil {
					t.Fatal(err)
				}
				rec, _ := srv.Record(servicenowfake.TableChangeRequest, tk.ID)
				if rec["urgency"] != "1" || rec["impact"] != "1" || rec["priority"] != "1" {
					t.Errorf("urgency/impact/priority = %s/%s/%s, want 1/1/1", rec["urgency"], rec["impact"], rec["priority"])
				}
			},
		},
		{
			name: "never_lowers_urgency_and_impact", severity: drift.SeverityCritical,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				if err := c.Update(t.Context(), tk, action.TicketUpdate{Note: "One host left.", Severity: drift.SeverityLow, At: at}); err != nil {
					t.Fatal(err)
				}
				rec, _ := srv.Record(servicenowfake.TableChangeRequest, tk.ID)
				if rec["urgency"] != "1" || rec["impact"] != "1" || len(srv.WorkNotes(tk.ID)) != 1 {
					t.Errorf("urgency/impact = %s/%s with %d notes, want 1/1 and the note", rec["urgency"], rec["impact"], len(srv.WorkNotes(tk.ID)))
				}
			},
		},
		{
			name: "adds_the_note_of_an_update_retried_after_a_lost_answer_once", severity: drift.SeverityHigh,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				u := action.TicketUpdate{Note: "Remediation run 42 failed.", At: at}
				srv.Inject(servicenowfake.Fault{Method: http.MethodPatch, Stall: true})
				if err := c.Update(t.Context(), tk, u); err == nil || fault.IsPermanent(err) {
					t.Fatalf("update with a stalled answer: err = %v, want a retryable error", err)
				}
				for range 2 {
					if err := c.Update(t.Context(), tk, u); err != nil {
						t.Fatal(err)
					}
				}
				if notes := srv.WorkNotes(tk.ID); len(notes) != 1 {
					t.Errorf("work notes = %q, want the note once", notes)
				}
				u.At = at.Add(time.Minute)
				if err := c.Update(t.Context(), tk, u); err != nil {
					t.Fatal(err)
				}
				if notes := srv.WorkNotes(tk.ID); len(notes) != 2 {
					t.Errorf("work notes = %q, want a second note for a later update", notes)
				}
			},
		},
		{
			name: "changes_nothing_on_a_closed_ticket", severity: drift.SeverityHigh,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				if err := c.Close(t.Context(), tk, action.TicketClose{Notes: "Resolved."}); err != nil {
					t.Fatal(err)
				}
				n := len(srv.Requests())
				if err := c.Update(t.Context(), tk, action.TicketUpdate{Note: "late", Severity: drift.SeverityCritical, At: at}); err != nil {
					t.Fatal(err)
				}
				if rs := srv.Requests()[n:]; len(rs) != 1 || rs[0].Method != http.MethodGet {
					t.Errorf("update of a closed ticket sent %s, want one GET", methods(rs))
				}
			},
		},
		{
			name: "finds_the_ticket_by_number_when_the_id_is_unknown", severity: drift.SeverityHigh,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				byNumber := action.Ticket{Kind: tk.Kind, Number: tk.Number}
				if err := c.Update(t.Context(), byNumber, action.TicketUpdate{Note: "by number", At: at}); err != nil {
					t.Fatal(err)
				}
				if notes := srv.WorkNotes(tk.ID); len(notes) != 1 {
					t.Errorf("work notes of %s = %q, want one", tk.Number, notes)
				}
				missing := action.Ticket{Kind: tk.Kind, Number: "CHG0099999"}
				if err := c.Update(t.Context(), missing, action.TicketUpdate{Note: "x"}); !fault.IsPermanent(err) {
					t.Errorf("update of a missing number: err = %v, want permanent", err)
				}
			},
		},
		{
			name: "refuses_an_id_that_is_not_a_sys_id_without_asking", severity: drift.SeverityHigh,
			run: func(t *testing.T, srv *servicenowfake.Server, c *servicenow.Client, tk action.Ticket) {
				n := len(srv.Requests())
				bad := action.Ticket{Kind: tk.Kind, ID: tk.ID + "^ORsys_idISNOTEMPTY"}
				if err := c.Update(t.Context(), bad, action.TicketUpdate{Note: "x"}); !fault.IsPermanent(err) {
					t.Errorf("err = %v, want permanent", err)
				}
				if len(srv.Requests()) != n {
					t.Errorf("sent %s", methods(srv.Requests()[n:]))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, func(c *servicenow.Config) { c.Timeout = time.Second })
			r := request("drift-1:change_request")
			r.Severity = tt.severity
			tt.run(t, srv, c, open(t, c, r))
		})
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		kind                    action.TicketKind
		code                    string
		state, closeCode, notes string
	}{
		{"closes_a_change_request_as_successful", action.TicketChangeRequest, "", "3", "successful", "Remediated by run 42."},
		{"closes_a_change_request_with_the_code_given", action.TicketChangeRequest, "successful_issues", "3", "successful_issues", "Remediated by run 42."},
		{"resolves_an_incident_with_a_generic_code_mapped", action.TicketIncident, "successful", "6", "Solution provided", "Remediated by run 42."},
		{"resolves_an_incident_with_its_own_code_in_any_case", action.TicketIncident, "resolved by change", "6", "Resolved by change", "Remediated by run 42."},
		{"maps_an_unsuccessful_incident_to_no_resolution_provided", action.TicketIncident, "unsuccessful", "6", "No resolution provided", "Remediated by run 42."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, nil)
			r := request("drift-1:" + string(tt.kind))
			r.Kind = tt.kind
			tk := open(t, c, r)
			if err := c.Close(t.Context(), tk, action.TicketClose{Code: tt.code, Notes: tt.notes}); err != nil {
				t.Fatal(err)
			}
			rec, _ := srv.Record(string(tt.kind), tk.ID)
			if rec["state"] != tt.state || rec["close_code"] != tt.closeCode || rec["close_notes"] != tt.notes || rec["active"] != "false" {
				t.Errorf("state/close_code/close_notes/active = %s/%q/%q/%s, want %s/%q/%q/false",
					rec["state"], rec["close_code"], rec["close_notes"], rec["active"], tt.state, tt.closeCode, tt.notes)
			}
		})
	}
}

func TestClosingTwiceIsHarmless(t *testing.T) {
	t.Parallel()
	for _, kind := range []action.TicketKind{action.TicketChangeRequest, action.TicketIncident} {
		t.Run("for_a_"+string(kind), func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, func(c *servicenow.Config) { c.Timeout = time.Second })
			r := request("drift-1:" + string(kind))
			r.Kind = kind
			tk := open(t, c, r)
			// The first close's answer is lost: the ticket is closed, the caller retries.
			srv.Inject(servicenowfake.Fault{Method: http.MethodPatch, Stall: true})
			if err := c.Close(t.Context(), tk, action.TicketClose{Notes: "first"}); err == nil || fault.IsPermanent(err) {
				t.Fatalf("close with a stalled answer: err = %v, want a retryable error", err)
			}
			before, _ := srv.Record(string(kind), tk.ID)
			n := len(srv.Requests())
			for range 2 {
				if err := c.Close(t.Context(), tk, action.TicketClose{Code: "unsuccessful", Notes: "second"}); err != nil {
					t.Fatalf("close again: %v", err)
				}
			}
			after, _ := srv.Record(string(kind), tk.ID)
			if !reflect.DeepEqual(before, after) || after["close_notes"] != "first" {
				t.Errorf("closing again changed the ticket:\n%v\n%v", before, after)
			}
			for _, r := range srv.Requests()[n:] {
				if r.Method != http.MethodGet {
					t.Errorf("closing a closed ticket sent %s %s", r.Method, r.Path)
				}
			}
		})
	}
}

func TestCloseRefusesACodeTheTableDoesNotHave(t *testing.T) {
	t.Parallel()
	srv, c := instance(t, nil)
	tk := open(t, c, request("drift-1:change_request"))
	n := len(srv.Requests())
	for _, code := range []string{"Solution provided", "done"} {
		if err := c.Close(t.Context(), tk, action.TicketClose{Code: code}); !fault.IsPermanent(err) || !strings.Contains(err.Error(), code) {
			t.Errorf("close with %q: err = %v, want a permanent error naming it", code, err)
		}
	}
	if len(srv.Requests()) != n {
		t.Errorf("refused closes sent %s", methods(srv.Requests()[n:]))
	}
}
