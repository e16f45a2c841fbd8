package ticketwebhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

// Open implements action.Tickets: it asks the receiver for the ticket of r.CorrelationID.
func (c *Client) Open(ctx context.Context, r action.TicketRequest) (action.Ticket, error) {
	if err := checkOpen(r); err != nil {
		return action.Ticket{}, fault.Permanent(fmt.Errorf("open webhook ticket for %q: %w", r.CorrelationID, err))
	}
	m := Message{
		Action: ActionOpen, Kind: r.Kind, CorrelationID: r.CorrelationID, DriftID: r.DriftID,
		CIID: r.CIID, CIType: r.CIType, Field: r.Field, Category: r.Category, Severity: r.Severity,
		ShortDescription: r.ShortDescription, Description: r.Description, Desired: r.Desired,
		Actual: r.Actual, PolicyID: r.PolicyID, Related: r.Related, At: r.At,
	}
	status, raw, err := c.send(ctx, r.CorrelationID, r.CorrelationID+":"+ActionOpen, m)
	if err != nil {
		return action.Ticket{}, fmt.Errorf("open webhook ticket for %s: %w", r.CorrelationID, err)
	}
	var a Answer
	if status != http.StatusOK && status != http.StatusCreated {
		err = fmt.Errorf("answered %d, want 200 or 201", status)
	} else if err = json.Unmarshal(raw, &a); err == nil && a.ID == "" {
		err = errors.New("the answer has no id")
	}
	if err != nil {
		return action.Ticket{}, fault.Permanent(fmt.Errorf("open webhook ticket for %s: the receiver breaks the contract: %w", r.CorrelationID, err))
	}
	if a.Number == "" {
		a.Number = a.ID
	}
	return action.Ticket{Kind: r.Kind, ID: a.ID, Number: a.Number, URL: a.URL, Created: status == http.StatusCreated}, nil
}

func checkOpen(r action.TicketRequest) error {
	var errs []error
	if err := checkKey(r.CorrelationID); err != nil {
		errs = append(errs, fmt.Errorf("correlation id: %w", err))
	}
	if r.Kind != action.TicketChangeRequest && r.Kind != action.TicketIncident {
		errs = append(errs, fmt.Errorf("kind %q is not %s or %s", r.Kind, action.TicketChangeRequest, action.TicketIncident))
	}
	if r.Severity != "" && !r.Severity.Valid() {
		errs = append(errs, fmt.Errorf("severity: %q is not one of low, medium, high, critical", r.Severity))
	}
	return errors.Join(errs...)
}

// Update implements action.Tickets: it sends the note (and severity) of u, once.
func (c *Client) Update(ctx context.Context, t action.Ticket, u action.TicketUpdate) error {
	ref, err := ref(t)
	if err == nil && u.Severity != "" && !u.Severity.Valid() {
		err = fmt.Errorf("severity: %q is not one of low, medium, high, critical", u.Severity)
	}
	if err != nil {
		return fault.Permanent(fmt.Errorf("update webhook ticket: %w", err))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", u.Note, u.Severity, u.At.UTC().Format(time.RFC3339Nano))
	key := ref + ":" + ActionUpdate + ":" + hex.EncodeToString(h.Sum(nil))[:16]
	m := Message{Action: ActionUpdate, Kind: t.Kind, ID: t.ID, Number: t.Number, Note: u.Note, Severity: u.Severity, At: u.At}
	if _, _, err := c.send(ctx, key, key, m); err != nil {
		return fmt.Errorf("update webhook ticket %s: %w", ref, err)
	}
	return nil
}

// Close implements action.Tickets: it asks the receiver to close the ticket.
func (c *Client) Close(ctx context.Context, t action.Ticket, cl action.TicketClose) error {
	ref, err := ref(t)
	if err != nil {
		return fault.Permanent(fmt.Errorf("close webhook ticket: %w", err))
	}
	key := ref + ":" + ActionClose
	m := Message{Action: ActionClose, Kind: t.Kind, ID: t.ID, Number: t.Number, Code: cl.Code, Notes: cl.Notes, At: cl.At}
	if _, _, err := c.send(ctx, key, key, m); err != nil {
		return fmt.Errorf("close webhook ticket %s: %w", ref, err)
	}
	return nil
}

// ref is the reference of a ticket in keys: its id, or else its number.
func ref(t action.Ticket) (string, error) {
	r := t.ID
	if r == "" {
		r = t.Number
	}
	if err := checkKey(r); err != nil {
		return "", fmt.Errorf("ticket id or number: %w", err)
	}
	return r, nil
}

// checkKey refuses what cannot go into a header as it is.
func checkKey(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if len(s) > 200 {
		return fmt.Errorf("%d bytes, more than 200", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Errorf("%q is not printable ASCII without spaces", s)
		}
	}
	return nil
}

// Error is a receiver's answer that is not a success.
type Error struct {
	Status int
	// Message is the receiver's error ({"error": ...} or {"message": ...}), or the start of
	// its body.
	Message string
	// RetryAfter is the wait a 429 or 503 answer asked for; zero when none.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("the receiver answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return s
}

// Retryable reports whether retrying can fix the failure: 408, 429 and 5xx answers.
func (e *Error) Retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// send posts m, signed, and returns a 2xx answer's status and body; it classifies failures.
func (c *Client) send(ctx context.Context, key, id string, m Message) (int, []byte, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return 0, nil, fault.Permanent(fmt.Errorf("encode %s: %w", m.Action, err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, fault.Permanent(fmt.Errorf("build %s: %w", m.Action, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "driftwatch")
	req.Header.Set(HeaderIdempotencyKey, key)
	if err := stdwebhook.SetHeaders(req.Header, c.secrets, id, time.Now(), payload); err != nil {
		return 0, nil, fault.Permanent(fmt.Errorf("sign %s: %w", m.Action, err))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", m.Action, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer to %s: %w", m.Action, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, raw, nil
	}
	e := &Error{Status: resp.StatusCode, Message: message(resp, raw), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if e.Retryable() {
		return 0, nil, fmt.Errorf("post %s: %w", m.Action, e)
	}
	return 0, nil, fault.Permanent(fmt.Errorf("post %s: %w", m.Action, e))
}

func message(resp *http.Response, raw []byte) string {
	var body struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		switch e := body.Error.(type) {
		case string:
			return e
		case map[string]any:
			if m, ok := e["message"].(string); ok {
				return m
			}
		}
		if body.Message != "" {
			return body.Message
		}
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		return "redirected to " + loc
	}
	s := strings.Join(strings.Fields(string(raw)), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

// retryAfter reads a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
