package servicenow

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Update implements action.Tickets: it adds u's note and raises urgency and impact to u's
// severity, once, on a ticket that is not closed.
func (c *Client) Update(ctx context.Context, tk action.Ticket, u action.TicketUpdate) error {
	t, err := tableOf(tk.Kind)
	if err == nil && u.Severity != "" && !u.Severity.Valid() {
		err = fmt.Errorf("severity: %q is not one of low, medium, high, critical", u.Severity)
	}
	if err != nil {
		return fault.Permanent(fmt.Errorf("update servicenow ticket %s: %w", name(tk), err))
	}
	rec, err := c.locate(ctx, t, tk)
	if err != nil {
		return fmt.Errorf("update %s: %w", name(tk), err)
	}
	defer c.locks.lock(t.name + "\x00" + rec.SysID)()
	if rec, err = c.read(ctx, t, rec.SysID); err != nil {
		return fmt.Errorf("update %s: %w", name(tk), err)
	}
	if t.closed(rec.State) {
		return nil
	}
	patch := map[string]string{}
	if l, ok := levels[u.Severity]; ok {
		raise(patch, "urgency", rec.Urgency, l.urgency)
		raise(patch, "impact", rec.Impact, l.impact)
	}
	if note := strings.TrimSpace(u.Note); note != "" {
		marker := updateMarker(rec.SysID, u)
		seen, err := c.journaled(ctx, rec.SysID, marker)
		if err != nil {
			return fmt.Errorf("update %s: %w", rec.Number, err)
		}
		if seen {
			return nil // this update's one PATCH was done
		}
		patch["work_notes"] = cut(note, maxText-len(marker)-2) + "\n\n" + marker
	}
	if len(patch) == 0 {
		return nil
	}
	if _, err := c.patch(ctx, t, rec.SysID, patch); err != nil {
		return fmt.Errorf("update %s: %w", rec.Number, err)
	}
	return nil
}

// raise sets field to want when want is a higher level (a lower number) than have.
func raise(patch map[string]string, field, have, want string) {
	if have == "" || want < have {
		patch[field] = want
	}
}

// Close implements action.Tickets: it closes (change_request) or resolves (incident) a
// ticket that is not closed yet.
func (c *Client) Close(ctx context.Context, tk action.Ticket, cl action.TicketClose) error {
	t, err := tableOf(tk.Kind)
	code := ""
	if err == nil {
		code, err = t.closeCode(cl.Code)
	}
	if err != nil {
		return fault.Permanent(fmt.Errorf("close servicenow ticket %s: %w", name(tk), err))
	}
	rec, err := c.locate(ctx, t, tk)
	if err != nil {
		return fmt.Errorf("close %s: %w", name(tk), err)
	}
	defer c.locks.lock(t.name + "\x00" + rec.SysID)()
	if rec, err = c.read(ctx, t, rec.SysID); err != nil {
		return fmt.Errorf("close %s: %w", name(tk), err)
	}
	if t.closed(rec.State) {
		return nil
	}
	notes := strings.TrimSpace(cl.Notes)
	if notes == "" {
		notes = "Drift resolved: the CI matches its desired state again."
	}
	after, err := c.patch(ctx, t, rec.SysID, map[string]string{
		"state": t.closedState, "close_code": code, "close_notes": cut(notes, maxText),
	})
	if err != nil {
		return fmt.Errorf("close %s: %w", rec.Number, err)
	}
	if !t.closed(after.State) {
		return fault.Permanent(fmt.Errorf("close %s: the instance kept state %q instead of %q: its state model refuses the move", rec.Number, after.State, t.closedState))
	}
	return nil
}

// lookup returns the oldest record of t whose field is value.
func (c *Client) lookup(ctx context.Context, t table, field, value string) (record, bool, error) {
	var found []record
	err := c.do(ctx, call{method: http.MethodGet, path: "api/now/table/" + t.name, query: url.Values{
		"sysparm_query":         {field + "=" + value + "^ORDERBYsys_created_on"},
		"sysparm_limit":         {"1"},
		"sysparm_fields":        {openFields},
		"sysparm_display_value": {"false"},
	}}, &found)
	if err != nil || len(found) == 0 {
		return record{}, false, err
	}
	return found[0], true, nil
}

// locate finds a ticket by its sys_id, or else by its number.
func (c *Client) locate(ctx context.Context, t table, tk action.Ticket) (record, error) {
	switch {
	case tk.ID != "":
		if !sysIDPattern.MatchString(tk.ID) {
			return record{}, fault.Permanent(fmt.Errorf("id %q is not a sys_id (32 hex digits)", tk.ID))
		}
		return record{SysID: tk.ID}, nil
	case numberPattern.MatchString(tk.Number):
		rec, ok, err := c.lookup(ctx, t, "number", tk.Number)
		if err == nil && (!ok || rec.Number != tk.Number) {
			err = fault.Permanent(fmt.Errorf("no %s has number %s", t.name, tk.Number))
		}
		return rec, err
	}
	return record{}, fault.Permanent(fmt.Errorf("ticket has no sys_id and no valid number (%q)", tk.Number))
}

// read returns the state, urgency and impact of a record.
func (c *Client) read(ctx context.Context, t table, sysID string) (record, error) {
	var rec record
	err := c.do(ctx, call{method: http.MethodGet, path: "api/now/table/" + t.name + "/" + sysID, query: url.Values{
		"sysparm_fields": {stateFields}, "sysparm_display_value": {"false"},
	}}, &rec)
	return rec, err
}

// journaled reports whether a work note of the record holds marker.
func (c *Client) journaled(ctx context.Context, sysID, marker string) (bool, error) {
	var found []struct {
		SysID string `json:"sys_id"`
	}
	err := c.do(ctx, call{method: http.MethodGet, path: "api/now/table/sys_journal_field", query: url.Values{
		"sysparm_query":  {"element_id=" + sysID + "^element=work_notes^valueLIKE" + marker},
		"sysparm_limit":  {"1"},
		"sysparm_fields": {"sys_id"},
	}}, &found)
	if err != nil {
		return false, fmt.Errorf("look for work note %s: %w", marker, err)
	}
	return len(found) > 0, nil
}

func (c *Client) patch(ctx context.Context, t table, sysID string, fields map[string]string) (record, error) {
	var rec record
	err := c.do(ctx, call{method: http.MethodPatch, path: "api/now/table/" + t.name + "/" + sysID, query: url.Values{
		"sysparm_display_value":          {"false"},
		"sysparm_exclude_reference_link": {"true"},
		"sysparm_fields":                 {stateFields},
	}, body: fields}, &rec)
	return rec, err
}

func name(t action.Ticket) string {
	if t.Number != "" {
		return t.Number
	}
	return t.ID
}
