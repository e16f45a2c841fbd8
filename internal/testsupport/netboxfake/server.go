package netboxfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a fake NetBox. Zero values take the defaults.
type Options struct {
	// Token is the API token the fake accepts (Authorization: Token <token>); default a
	// fixed 40-character hex token, see DefaultToken.
	Token string
	// PageSize is the page size when a list request gives no limit; default 50, NetBox's
	// PAGINATE_COUNT.
	PageSize int
	// MaxPageSize caps limit, as NetBox's MAX_PAGE_SIZE does; default 1000.
	MaxPageSize int
	// User is the user name written into change records and webhooks; default "admin".
	User string
	// Now is the clock of change records and timestamps; default time.Now.
	Now func() time.Time
}

// DefaultToken is the token a fake accepts when Options.Token is empty.
const DefaultToken = "0123456789abcdef0123456789abcdef01234567"

func (o *Options) setDefaults() {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	if o.MaxPageSize <= 0 {
		o.MaxPageSize = 1000
	}
	if o.User == "" {
		o.User = "admin"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Request is one request the fake received.
type Request struct {
	Method string
	// Path is the URL path ("/api/dcim/devices/").
	Path  string
	Query url.Values
	// Status is the status the fake answered, 0 when the client went away first.
	Status int
}

// Fault is a failure the fake injects into the answers of matching requests.
type Fault struct {
	// Path limits the fault to one API path ("/api/dcim/devices/"); empty matches all.
	Path string
	// Times is how many requests the fault hits; 0 hits every matching request until
	// ClearFaults.
	Times int
	// Delay holds the answer back this long, or until the client goes away.
	Delay time.Duration
	// Hold, when set, holds the answer back until it is closed or the client goes away.
	Hold <-chan struct{}
	// Status, when set, is answered instead of the real answer, with NetBox's JSON error
	// body (502, 503 and 504 are what a proxy in front of NetBox answers).
	Status int
	// Malformed answers the real answer with the first result's Field (default "id")
	// replaced by a JSON string, so that it no longer matches the OpenAPI document. The
	// fake checks that it does not, and skips the validation that fails the test.
	Malformed bool
	Field     string
}

// Server is a fake NetBox 4.3 REST API over httptest. It is safe for concurrent use; its
// methods that change objects must be called from the test's goroutine (they call t.Fatalf
// on input NetBox would refuse).
type Server struct {
	t    testing.TB
	opts Options
	spec *Spec
	http *httptest.Server

	mu       sync.Mutex
	st       *store
	faults   []*Fault
	requests []Request
}

// Start starts a fake NetBox on 127.0.0.1, closed when t ends. It fails t when the OpenAPI
// document cannot be loaded.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.setDefaults()
	spec, err := LoadSpec()
	if err != nil {
		t.Fatalf("netboxfake: %v", err)
	}
	s := &Server{t: t, opts: opts, spec: spec, st: newStore(opts.Now)}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.http.Close)
	return s
}

// URL is the base URL of the fake, without /api.
func (s *Server) URL() string { return s.http.URL }

// Token is the API token the fake accepts.
func (s *Server) Token() string { return s.opts.Token }

// Inject adds a fault; faults are matched in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Field == "" {
		f.Field = "id"
	}
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestCount counts the requests to path ("/api/dcim/devices/"); empty counts all.
func (s *Server) RequestCount(path string) int {
	n := 0
	for _, r := range s.Requests() {
		if path == "" || r.Path == path {
			n++
		}
	}
	return n
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func (s *Server) takeFault(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Path != "" && f.Path != path {
			continue
		}
		cp := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &cp
	}
	return nil
}

// apiError is NetBox's (Django REST framework's) error body.
func apiError(detail string) []byte {
	b, _ := json.Marshal(map[string]string{"detail": detail})
	return b
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	idx := len(s.requests) - 1
	s.mu.Unlock()
	status := s.answer(w, r)
	s.mu.Lock()
	s.requests[idx].Status = status
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) int {
	fault := s.takeFault(r.URL.Path)
	if fault != nil && fault.Delay > 0 {
		timer := time.NewTimer(fault.Delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return 0
		}
	}
	if fault != nil && fault.Hold != nil {
		select {
		case <-fault.Hold:
		case <-r.Context().Done():
			return 0
		}
	}
	write := func(status int, body []byte) int {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("API-Version", "4.3")
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Token")
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return status
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return write(http.StatusNotFound, apiError("Not found."))
	}
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		return write(http.StatusUnauthorized, apiError("Authentication credentials were not provided."))
	case auth != "Token "+s.opts.Token:
		return write(http.StatusUnauthorized, apiError("Invalid token"))
	}
	if r.Method != http.MethodGet {
		return write(http.StatusMethodNotAllowed, apiError(fmt.Sprintf("Method \"%s\" not allowed.", r.Method)))
	}
	if fault != nil && fault.Status != 0 {
		return write(fault.Status, apiError(http.StatusText(fault.Status)))
	}
	if err := s.spec.ValidateRequest(r); err != nil {
		s.t.Errorf("netboxfake: %v", err)
		return write(http.StatusBadRequest, apiError(err.Error()))
	}
	status, body := s.route(r)
	if status == http.StatusOK {
		if fault != nil && fault.Malformed {
			body = malform(body, fault.Field)
			if s.spec.ValidateResponse(r, status, jsonHeader, body) == nil {
				s.t.Errorf("netboxfake: the malformed answer to %s still matches the openapi document", r.URL.RequestURI())
			}
			return write(status, body)
		}
		if err := s.spec.ValidateResponse(r, status, jsonHeader, body); err != nil {
			s.t.Errorf("netboxfake: %v", err)
		}
	}
	return write(status, body)
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// malform replaces field of the first result (or, without results, count) with a string.
func malform(body []byte, field string) []byte {
	var page map[string]any
	if err := json.Unmarshal(body, &page); err != nil {
		return []byte("{")
	}
	if rs, ok := page["results"].([]any); ok && len(rs) > 0 {
		if obj, ok := rs[0].(map[string]any); ok {
			obj[field] = "malformed"
		}
	} else {
		page["count"] = "malformed"
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(page)
	return buf.Bytes()
}
