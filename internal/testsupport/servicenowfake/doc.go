// Package servicenowfake is an in-memory ServiceNow instance for tests. ServiceNow cannot run
// here, so this fake stands in for it; it speaks the Table API's wire format
// (/api/now/table/<table>, JSON, answers wrapped in {"result": ...}, errors as
// {"error": {"message": ..., "detail": ...}, "status": "failure"}), so a test drives a real
// HTTP client over a real connection.
//
// It serves, for the tables change_request and incident:
//
//   - POST /api/now/table/<table>: creates a record with a sys_id (32 lowercase hex digits),
//     a number (CHG0030001, CHG0030002, ... and INC0010001, ...), sys_created_on and
//     sys_updated_on, the default state (change_request -5 New, incident 1 New), urgency and
//     impact 3, and a priority from the stock priority lookup; it answers 201 with a Location
//     header and the record;
//   - GET /api/now/table/<table> with sysparm_query, sysparm_limit, sysparm_offset and
//     sysparm_fields; GET /api/now/table/<table>/<sys_id>, 404 when there is no such record;
//   - PATCH and PUT /api/now/table/<table>/<sys_id>, which change the fields given;
//   - work_notes, a journal field: a value written is appended to the record's journal
//     (table sys_journal_field: element_id, element, name, value, sys_created_on) and, as on
//     a real instance with sysparm_display_value=false, reads back as ""; the journal is
//     readable with GET /api/now/table/sys_journal_field.
//
// Encoded queries are conditions joined by ^ (and) and ^OR (or, binding tighter), with the
// operators =, !=, LIKE (contains), NOT LIKE, STARTSWITH, ENDSWITH, IN and NOT IN (a comma
// separated list), ISEMPTY and ISNOTEMPTY;
// ORDERBY<field> and ORDERBYDESC<field> terms are accepted and ignored (records are kept in
// creation order, which is sys_created_on order). String comparisons ignore case, as they do
// on an instance, whose database collation is case-insensitive. As on a stock instance
// (glide.invalid_query.returns_no_rows false), a condition on a field the table does not have
// is dropped rather than refused, so a broken query can match every record.
//
// Every request needs credentials: basic auth with Config.Username and Config.Password, or
// "Authorization: Bearer <Config.Token>"; otherwise the answer is 401 with ServiceNow's body
// ("User Not Authenticated", "Required to provide Auth information").
//
// It is stricter than a stock instance, which silently drops what it does not know, so that
// a client's mistakes fail the test at once. Every write is checked against an allowlist of
// fields per table (Fields lists them) and the values against their choice lists: state
// (change_request -5, -4, -3, -2, -1, 0, 3 Closed, 4 Canceled; incident 1, 2, 3, 6
// Resolved, 7 Closed, 8 Canceled), urgency and impact 1 to 3, change type standard, normal or
// emergency, and close_code (change_request successful, successful_issues, unsuccessful;
// incident the current releases' choices, IncidentCloseCodes). Closing (change_request 3,
// incident 6 or 7) needs close_code and close_notes, as the instance's data policies do.
// Values longer than the column (short_description 160, correlation_id and
// correlation_display 100, description, close_notes and work_notes 4000 characters), field
// values that are not JSON strings, numbers or booleans, unknown sysparm_fields and a
// malformed sysparm_limit are all refused with 400 and ServiceNow's error body.
//
// Every request is recorded (Requests), and faults can be injected once each (Inject): an
// error status with ServiceNow's error body and an optional Retry-After header, without
// acting on the request; or a stall, which acts on the request (the record IS created) and
// then withholds the answer until the client gives up.
//
// change_request also has approval (not requested on create; requested, approved, rejected,
// cancelled) and the planned implementation window start_date and end_date, date-times
// written and read as "YYYY-MM-DD hh:mm:ss" in UTC, as a change calendar reads them.
//
// It does not implement: other tables (cmdb_ci references are stored as the value given,
// not resolved, and the one dot-walked field it reads, cmdb_ci.name, in queries and
// sysparm_fields, is that value), sysparm_display_value=true or all,
// sysparm_input_display_value, ^NQ queries, other dot-walked fields, ordering, comparisons
// of dates, ACLs and roles, business rules, state models and
// approvals, DELETE, the Attachment, Import Set and Aggregate APIs, and the response headers
// X-Total-Count and Link.
package servicenowfake
