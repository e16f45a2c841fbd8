// Package servicenow opens, updates and closes driftwatch's ITSM tickets in ServiceNow
// through the Table API: a change request (table change_request) for a drift, an incident
// (table incident) when the drift is still there after its remediation (SPEC-080's
// remediation flow).
//
// Open is idempotent by correlation id. It first asks for the oldest record of the table
// whose correlation_id is the request's (GET ...?sysparm_query=correlation_id=<id>^ORDERBY
// sys_created_on&sysparm_limit=1) and returns it with Created false; only when there is none
// does it create one. A create whose answer was lost to a timeout, retried, thus finds the
// ticket it opened. Opens of one correlation id are serialised within a Client; across
// processes a duplicate can still arise from two creates racing, or from a retry that looks
// before the lost create has been committed, and because the lookup takes the oldest record,
// every later Open converges on the same ticket.
//
// The correlation_id written is the caller's CorrelationID when it is at most 100
// characters (the column's length) of lowercase letters, digits and . _ : - only, and does not
// start with "sha256:"; any other id is written as "sha256:" and the hex SHA-256 of the id
// (71 characters). This keeps ^ (the query's AND, and with OR or NQ its OR), = and every
// other operator character out of the encoded query, so that no id can change the query's
// meaning and match another drift's ticket; lowercase only, because an instance compares
// strings without regard to case. The record the instance returns is checked to carry the
// value asked for: an instance answers a query it cannot read with every record when
// glide.invalid_query.returns_no_rows is false (the default), and a ticket of another drift
// must never be taken for this one's.
//
// Severity maps to urgency and impact (1 high, 2 medium, 3 low), which the stock priority
// lookup turns into a priority: critical 1/1 (P1 Critical), high 2/1 (P2 High), medium 2/2
// (P3 Moderate), low 3/2 (P4 Low). Update only ever raises them.
//
// Update and Close read the ticket's state first and change nothing on a closed ticket
// (change_request 3 Closed or 4 Canceled; incident 6 Resolved, 7 Closed or 8 Canceled), so
// a Close retried after a lost answer finds the ticket closed and is done. A work note
// carries a marker derived from the ticket, the note, the severity and the time of the
// update ("driftwatch-update:<16 hex>"); Update looks for it in the ticket's journal
// (sys_journal_field, which the integration user must be able to read) before it writes,
// so a retried Update adds its note once.
//
// Close sets change_request's state 3 (Closed), close_code (TicketClose.Code: successful,
// successful_issues or unsuccessful; default successful) and close_notes; and incident's
// state 6 (Resolved), close_code and close_notes. An incident's close code is one of the
// current releases' choices (Solution provided, Workaround provided, Resolved by change, ...,
// matched without regard to case), or a generic code mapped to one: "" and successful to
// Solution provided, successful_issues to Workaround provided, unsuccessful to No resolution
// provided, remediated to Resolved by change. A change request's state model must allow
// the move to Closed; when the instance answers with another state, Close fails permanently.
//
// Answers of 400, 401, 403, 404 and any other 4xx but 408 and 429, redirects (a login page,
// a wrong URL), and requests that cannot be built are fault.Permanent; 408, 429, 5xx,
// network errors, timeouts and 2xx answers that are not the Table API's JSON (a hibernating
// developer instance answers 200 with an HTML page) are returned as they are, for a retry.
// The instance's error message and detail are in the error (*Error).
package servicenow

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
)

// Config is how to reach the instance and what to put on every ticket.
type Config struct {
	// Instance is the instance's URL, "https://example.service-now.com"; required. Plain
	// http is accepted for a loopback address only.
	Instance string
	// Username and Password authenticate with basic auth; or Token, an OAuth access token,
	// as a bearer token. Exactly one of the two is required.
	Username string
	Password string
	Token    string
	// Timeout bounds each request to the instance; default 10s.
	Timeout time.Duration
	// AssignmentGroup is the assignment_group of every ticket (a sys_id or a group name);
	// default none.
	AssignmentGroup string
	// CallerID is the caller_id of incidents (a sys_user sys_id or user name); default none.
	CallerID string
	// Category is the category of every ticket (a choice value of the table's category
	// field); default none.
	Category string
	// CIsInCMDB says the CI ids are the names of records in the CMDB, so that a ticket can
	// set cmdb_ci to the CI id (the instance resolves a reference given by its display
	// value); default false, and cmdb_ci is left out.
	CIsInCMDB bool
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	c.Instance = strings.TrimRight(c.Instance, "/")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Instance == "" {
		errs = append(errs, errors.New("instance: required"))
	} else if err := checkInstance(c.Instance); err != nil {
		errs = append(errs, fmt.Errorf("instance: %w", err))
	}
	basic := c.Username != "" || c.Password != ""
	switch {
	case basic && c.Token != "":
		errs = append(errs, errors.New("auth: set username and password, or a token, not both"))
	case basic && (c.Username == "" || c.Password == ""):
		errs = append(errs, errors.New("auth: basic auth needs both username and password"))
	case !basic && c.Token == "":
		errs = append(errs, errors.New("auth: required: username and password, or a token"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	if n := len([]rune(c.Category)); n > 40 {
		errs = append(errs, fmt.Errorf("category: %d characters, more than the column's 40", n))
	}
	return errors.Join(errs...)
}

func checkInstance(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be scheme://host[:port][/path] without credentials, query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if host := u.Hostname(); host == "localhost" || net.ParseIP(host).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: plain http would send the credentials in clear; use https", s)
	}
	return fmt.Errorf("%q: scheme must be https", s)
}

// Client implements action.Tickets over ServiceNow's Table API. It is safe for concurrent
// use.
type Client struct {
	cfg   Config
	base  *url.URL
	http  *http.Client
	locks keyedMutex
}

var _ action.Tickets = (*Client)(nil)

// New returns a client of the instance; it refuses a bad config. hc is the HTTP client to
// use (its transport, proxy and TLS settings); nil means a new one with Go's defaults.
// Redirects are never followed: the Table API does not redirect, a login page does.
func New(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new servicenow client: %w", err)
	}
	base, _ := url.Parse(cfg.Instance)
	c := &http.Client{}
	if hc != nil {
		c = new(http.Client)
		*c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, base: base, http: c}, nil
}
