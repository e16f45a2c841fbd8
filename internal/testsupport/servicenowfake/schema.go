package servicenowfake

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Tables the fake serves; JournalTable is read-only.
const (
	TableChangeRequest = "change_request"
	TableIncident      = "incident"
	JournalTable       = "sys_journal_field"
)

// ChangeCloseCodes are change_request's close_code choices.
var ChangeCloseCodes = []string{"successful", "successful_issues", "unsuccessful"}

// ChangeApprovals are change_request's approval choices; a new record is "not requested".
var ChangeApprovals = []string{"not requested", "requested", "approved", "rejected", "cancelled"}

// IncidentCloseCodes are incident's close_code choices in current releases.
var IncidentCloseCodes = []string{
	"Duplicate", "Known error", "No resolution provided", "Resolved by caller",
	"Resolved by change", "Resolved by problem", "Resolved by request", "Solution provided",
	"Workaround provided", "User error",
}

// column is one field of a table: its maximum length (0: no limit checked), its choices (nil:
// any value) and whether a client may write it.
type column struct {
	max      int
	choices  []string
	writable bool
	// datetime says values are "YYYY-MM-DD hh:mm:ss" (UTC with sysparm_display_value=false).
	datetime bool
}

// dotWalked are the dot-walked fields the fake reads, by the reference they walk: it stores a
// reference as the display value a client gave (a CI's name), so cmdb_ci.name is that value.
var dotWalked = map[string]string{"cmdb_ci.name": "cmdb_ci"}

// value returns field of record r, reading a dot-walked field through its reference.
func value(r map[string]string, field string) string {
	if ref, ok := dotWalked[field]; ok {
		return r[ref]
	}
	return r[field]
}

// readable reports whether field can be asked for or queried on the table.
func (s schema) readable(field string) bool {
	if ref, ok := dotWalked[field]; ok {
		_, has := s.columns[ref]
		return has
	}
	_, has := s.columns[field]
	return has
}

var levels = []string{"1", "2", "3"}

// taskColumns are the fields change_request and incident share.
func taskColumns() map[string]column {
	return map[string]column{
		"sys_id":              {},
		"number":              {},
		"active":              {},
		"priority":            {},
		"sys_created_on":      {},
		"sys_updated_on":      {},
		"short_description":   {max: 160, writable: true},
		"description":         {max: 4000, writable: true},
		"correlation_id":      {max: 100, writable: true},
		"correlation_display": {max: 100, writable: true},
		"cmdb_ci":             {max: 255, writable: true},
		"urgency":             {choices: levels, writable: true},
		"impact":              {choices: levels, writable: true},
		"category":            {max: 40, writable: true},
		"assignment_group":    {max: 80, writable: true},
		"close_notes":         {max: 4000, writable: true},
		"work_notes":          {max: 4000, writable: true},
	}
}

// schema is a table's columns, the states that close a record and its first number.
type schema struct {
	columns    map[string]column
	closing    []string // states that need close_code and close_notes
	inactive   []string // states in which the record is no longer active
	prefix     string
	first      int
	newState   string
	readOnly   bool
	journaling bool
}

var schemas = func() map[string]schema {
	chg := taskColumns()
	chg["state"] = column{choices: []string{"-5", "-4", "-3", "-2", "-1", "0", "3", "4"}, writable: true}
	chg["close_code"] = column{choices: ChangeCloseCodes, writable: true}
	chg["type"] = column{choices: []string{"standard", "normal", "emergency"}, writable: true}
	chg["approval"] = column{choices: ChangeApprovals, writable: true}
	chg["start_date"] = column{datetime: true, writable: true}
	chg["end_date"] = column{datetime: true, writable: true}
	inc := taskColumns()
	inc["state"] = column{choices: []string{"1", "2", "3", "6", "7", "8"}, writable: true}
	inc["close_code"] = column{choices: IncidentCloseCodes, writable: true}
	inc["caller_id"] = column{max: 80, writable: true}
	return map[string]schema{
		TableChangeRequest: {columns: chg, closing: []string{"3"}, inactive: []string{"3", "4"},
			prefix: "CHG", first: 30001, newState: "-5", journaling: true},
		TableIncident: {columns: inc, closing: []string{"6", "7"}, inactive: []string{"6", "7", "8"},
			prefix: "INC", first: 10001, newState: "1", journaling: true},
		JournalTable: {columns: map[string]column{
			"sys_id": {}, "element_id": {}, "element": {}, "name": {}, "value": {},
			"sys_created_on": {}, "sys_created_by": {},
		}, readOnly: true},
	}
}()

// Fields lists the fields a client may write to table, sorted; nil for a table the fake does
// not serve or does not let clients write.
func Fields(table string) []string {
	s, ok := schemas[table]
	if !ok || s.readOnly {
		return nil
	}
	var out []string
	for name, c := range s.columns {
		if c.writable {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// priorities is the stock priority lookup: urgency and impact to priority.
var priorities = map[[2]string]string{
	{"1", "1"}: "1", {"1", "2"}: "2", {"1", "3"}: "3",
	{"2", "1"}: "2", {"2", "2"}: "3", {"2", "3"}: "4",
	{"3", "1"}: "3", {"3", "2"}: "4", {"3", "3"}: "5",
}

// checkWrite checks the fields a client sends: known, writable, of valid value and length.
func (s schema) checkWrite(table string, fields map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v := fields[name]
		c, ok := s.columns[name]
		switch {
		case !ok:
			return fmt.Errorf("field %q is not a field of %s", name, table)
		case !c.writable:
			return fmt.Errorf("field %q of %s is read-only", name, table)
		case c.choices != nil && !slices.Contains(c.choices, v):
			return fmt.Errorf("%q is not a valid choice for %s.%s (one of %v)", v, table, name, c.choices)
		case c.max > 0 && utf8.RuneCountInString(v) > c.max:
			return fmt.Errorf("%s.%s is %d characters, more than its maximum length %d", table, name, utf8.RuneCountInString(v), c.max)
		case c.datetime && v != "":
			if _, err := time.Parse(time.DateTime, v); err != nil {
				return fmt.Errorf("%s.%s: %q is not a date and time (YYYY-MM-DD hh:mm:ss)", table, name, v)
			}
		}
	}
	return nil
}

// checkRecord checks a record after a write: closing states need their close fields.
func (s schema) checkRecord(r map[string]string) error {
	if !slices.Contains(s.closing, r["state"]) {
		return nil
	}
	var missing []string
	for _, f := range []string{"close_code", "close_notes"} {
		if r[f] == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Data Policy Exception: the following fields are mandatory: %v", missing)
	}
	return nil
}

// derive sets the fields the instance computes.
func (s schema) derive(r map[string]string) {
	r["priority"] = priorities[[2]string{r["urgency"], r["impact"]}]
	r["active"] = strconv.FormatBool(!slices.Contains(s.inactive, r["state"]))
}
