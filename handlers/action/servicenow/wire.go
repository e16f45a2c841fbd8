package servicenow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Error is an answer of the instance that is not a success: its status, and the message and
// detail of ServiceNow's error body ({"error": {"message": ..., "detail": ...}}) or the start
// of a body of another form.
type Error struct {
	Status  int
	Message string
	Detail  string
	// RetryAfter is the wait a 429 or 503 answer asked for (Retry-After); zero when none.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("servicenow answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
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

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 4 << 20

// call is one request of the Table API.
type call struct {
	method string
	path   string // below the instance URL
	query  url.Values
	body   any // encoded as JSON when not nil
}

// do sends c and decodes the answer's result into out (when not nil). It classifies the
// failure: fault.Permanent when retrying cannot fix it.
func (cl *Client) do(ctx context.Context, c call, out any) error {
	ctx, cancel := context.WithTimeout(ctx, cl.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if c.body != nil {
		raw, err := json.Marshal(c.body)
		if err != nil {
			return fault.Permanent(fmt.Errorf("encode %s %s: %w", c.method, c.path, err))
		}
		body = bytes.NewReader(raw)
	}
	u := cl.base.JoinPath(c.path)
	u.RawQuery = c.query.Encode()
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return fault.Permanent(fmt.Errorf("build %s %s: %w", c.method, c.path, err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "driftwatch")
	if cl.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.cfg.Token)
	} else {
		req.SetBasicAuth(cl.cfg.Username, cl.cfg.Password)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("read the answer to %s %s: %w", c.method, c.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := answerError(resp, raw)
		if e.Retryable() {
			return fmt.Errorf("%s %s: %w", c.method, c.path, e)
		}
		return fault.Permanent(fmt.Errorf("%s %s: %w", c.method, c.path, e))
	}
	if out == nil {
		return nil
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Result) == 0 {
		// A hibernating developer instance answers 200 with an HTML page; it wakes up.
		return fmt.Errorf("%s %s: the answer (%s) is not the Table API's {\"result\": ...}: %s",
			c.method, c.path, resp.Header.Get("Content-Type"), snippet(raw))
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("%s %s: decode the result: %w", c.method, c.path, err)
	}
	return nil
}

// answerError reads ServiceNow's error body and the Retry-After header of a failed answer.
func answerError(resp *http.Response, raw []byte) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Detail  string `json:"detail"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && (body.Error.Message != "" || body.Error.Detail != "") {
		e.Message, e.Detail = body.Error.Message, body.Error.Detail
	} else if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		e.Message = "redirected to " + loc + " (is the instance URL right?)"
	} else {
		e.Message = snippet(raw)
	}
	return e
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

// snippet is the start of a body, on one line, for an error message.
func snippet(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if s == "" {
		return "empty body"
	}
	return cut(s, 200)
}

// keyedMutex serialises work on one key.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes key's lock and returns its release.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
