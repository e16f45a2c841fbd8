package servicenow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// record is the part of a Table API record driftwatch reads.
type record struct {
	SysID         string `json:"sys_id"`
	Number        string `json:"number"`
	State         string `json:"state"`
	CorrelationID string `json:"correlation_id"`
	Urgency       string `json:"urgency"`
	Impact        string `json:"impact"`
}

const (
	openFields  = "sys_id,number,state,correlation_id"
	stateFields = "sys_id,number,state,urgency,impact"
)

// Open implements action.Tickets: it returns the ticket of r.CorrelationID, opening it when
// there is none.
func (c *Client) Open(ctx context.Context, r action.TicketRequest) (action.Ticket, error) {
	t, err := tableOf(r.Kind)
	if err == nil {
		err = checkRequest(r)
	}
	if err != nil {
		return action.Ticket{}, fault.Permanent(fmt.Errorf("open servicenow ticket for %s: %w", r.CorrelationID, err))
	}
	corr := correlationValue(r.CorrelationID)
	defer c.locks.lock(t.name + "\x00" + corr)()

	found, ok, err := c.lookup(ctx, t, "correlation_id", corr)
	if err != nil {
		return action.Ticket{}, fmt.Errorf("look up the %s of %s: %w", t.name, r.CorrelationID, err)
	}
	if ok {
		if found.CorrelationID != corr {
			return action.Ticket{}, fault.Permanent(fmt.Errorf("look up the %s of %s: the instance answered with %s, whose correlation_id is %q: it did not apply the query (glide.invalid_query.returns_no_rows?)",
				t.name, r.CorrelationID, found.Number, found.CorrelationID))
		}
		return c.ticket(r.Kind, found, false), nil
	}
	var created record
	err = c.do(ctx, call{method: http.MethodPost, path: "api/now/table/" + t.name, query: url.Values{
		"sysparm_display_value":          {"false"},
		"sysparm_exclude_reference_link": {"true"},
		"sysparm_fields":                 {openFields},
	}, body: c.fields(r, corr)}, &created)
	if err != nil {
		return action.Ticket{}, fmt.Errorf("create the %s of %s: %w", t.name, r.CorrelationID, err)
	}
	if !sysIDPattern.MatchString(created.SysID) || created.Number == "" {
		// The record may exist: a retry finds it by correlation id.
		return action.Ticket{}, fmt.Errorf("create the %s of %s: the answer has no sys_id and number", t.name, r.CorrelationID)
	}
	return c.ticket(r.Kind, created, true), nil
}

func checkRequest(r action.TicketRequest) error {
	var errs []error
	if r.CorrelationID == "" {
		errs = append(errs, errors.New("correlation id: required"))
	}
	if r.Severity != "" && !r.Severity.Valid() {
		errs = append(errs, fmt.Errorf("severity: %q is not one of low, medium, high, critical", r.Severity))
	}
	if strings.TrimSpace(r.ShortDescription) == "" && r.CIID == "" {
		errs = append(errs, errors.New("short description: required when there is no CI id"))
	}
	return errors.Join(errs...)
}

// fields are the values of a new ticket.
func (c *Client) fields(r action.TicketRequest, corr string) map[string]string {
	short := oneLine(r.ShortDescription)
	if short == "" {
		short = oneLine(fmt.Sprintf("Drift on %s %s", r.CIID, r.Field))
	}
	f := map[string]string{
		"short_description":   cut(short, maxShortDescription),
		"description":         cut(description(r), maxText),
		"correlation_id":      corr,
		"correlation_display": CorrelationDisplay,
	}
	if c.cfg.CIsInCMDB && r.CIID != "" {
		f["cmdb_ci"] = r.CIID
	}
	if l, ok := levels[r.Severity]; ok {
		f["urgency"], f["impact"] = l.urgency, l.impact
	}
	set := func(name, v string) {
		if v != "" {
			f[name] = v
		}
	}
	set("category", c.cfg.Category)
	set("assignment_group", c.cfg.AssignmentGroup)
	switch r.Kind {
	case action.TicketChangeRequest:
		f["type"] = "normal"
	case action.TicketIncident:
		set("caller_id", c.cfg.CallerID)
		if r.Related != "" {
			f["work_notes"] = cut(fmt.Sprintf("Escalated from change request %s: the drift is still there after its remediation.", r.Related), maxText)
		}
	}
	return f
}

// description is the request's story, then the facts that identify its drift.
func description(r action.TicketRequest) string {
	var lines []string
	if d := strings.TrimSpace(r.Description); d != "" {
		lines = append(lines, d, "")
	}
	ci := r.CIID
	if r.CIType != "" {
		ci += " (" + r.CIType + ")"
	}
	facts := []struct{ name, v string }{
		{"Drift", r.DriftID}, {"CI", ci}, {"Field", r.Field},
		{"Category", string(r.Category)}, {"Severity", string(r.Severity)}, {"Policy", r.PolicyID},
		{"Related", r.Related},
	}
	for _, f := range facts {
		if f.v != "" {
			lines = append(lines, f.name+": "+f.v)
		}
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func (c *Client) ticket(k action.TicketKind, r record, created bool) action.Ticket {
	u := c.base.JoinPath("nav_to.do")
	u.RawQuery = url.Values{"uri": {tables[k].name + ".do?sys_id=" + r.SysID}}.Encode()
	return action.Ticket{Kind: k, ID: r.SysID, Number: r.Number, URL: u.String(), Created: created}
}
