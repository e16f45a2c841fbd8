package servicenowfake

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config sets the credentials the fake accepts.
type Config struct {
	// Username and Password are accepted as basic auth when both are set.
	Username string
	Password string
	// Token is accepted as "Authorization: Bearer <Token>" when set.
	Token string
}

// Request is one request the fake received, and what it answered.
type Request struct {
	Method string
	// Path is the URL path, Query its decoded query.
	Path  string
	Query url.Values
	// Header holds the request's headers.
	Header http.Header
	// Body is the request's body as received.
	Body []byte
	// Status is the answer's status code; for a stalled request, the one withheld.
	Status int
	// Stalled is true when the answer was withheld (Fault.Stall).
	Stalled bool
}

// Fault is a failure to inject. It applies once, to the first request that matches it.
type Fault struct {
	// Method and Table select the requests it applies to ("POST", "change_request"); empty
	// matches any.
	Method string
	Table  string
	// Status, when not zero, answers with this status and ServiceNow's error body without
	// acting on the request.
	Status int
	// RetryAfter, with Status, sets the Retry-After header in whole seconds.
	RetryAfter time.Duration
	// Stall acts on the request (a record is created or changed) and then withholds the
	// answer until the client closes the connection.
	Stall bool
}

// Server is the fake instance. It is safe for concurrent use.
type Server struct {
	cfg    Config
	http   *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	records  map[string][]map[string]string
	counters map[string]int
	requests []Request
	faults   []Fault
}

// New returns a fake with no records; serve it with ServeHTTP, or use Start.
func New(cfg Config) *Server {
	return &Server{
		cfg: cfg, closed: make(chan struct{}),
		records: map[string][]map[string]string{}, counters: map[string]int{},
	}
}

// Start returns a fake listening on a free port of 127.0.0.1, closed when t ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	s.http = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// URL is the instance URL ("http://127.0.0.1:PORT") of a started fake.
func (s *Server) URL() string { return s.http.URL }

// Close releases stalled requests and, for a started fake, stops listening.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	if s.http != nil {
		s.http.Close()
	}
}

// Create records a new record of table as a person working in the instance would, through
// the Table API with the fake's credentials (recorded as any other request, checked as any
// other write), and returns it; it fails t when the fake refuses it.
func (s *Server) Create(t testing.TB, table string, fields map[string]string) map[string]string {
	t.Helper()
	body, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, apiPrefix+table, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	} else {
		req.SetBasicAuth(s.cfg.Username, s.cfg.Password)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var out struct {
		Result map[string]string `json:"result"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusCreated {
		t.Fatalf("servicenowfake: create %s %v: %d %s", table, fields, w.Code, w.Body)
	}
	return out.Result
}

// Inject queues a fault for the first request it matches.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Records returns copies of table's records in creation order.
func (s *Server) Records(table string) []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]string, len(s.records[table]))
	for i, r := range s.records[table] {
		out[i] = maps.Clone(r)
	}
	return out
}

// Record returns a copy of the record of table with sysID.
func (s *Server) Record(table, sysID string) (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.find(table, sysID)
	return maps.Clone(r), r != nil
}

// WorkNotes returns the work notes journaled on the record with sysID, oldest first.
func (s *Server) WorkNotes(sysID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, j := range s.records[JournalTable] {
		if j["element_id"] == sysID && j["element"] == "work_notes" {
			out = append(out, j["value"])
		}
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	table, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, apiPrefix), "/")

	out := httptest.NewRecorder()
	f, faulted := s.takeFault(r.Method, table)
	switch {
	case !s.authorised(r):
		out.Header().Set("WWW-Authenticate", `BASIC realm="Service-now"`)
		writeError(out, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
	case faulted && f.Status != 0:
		if f.RetryAfter > 0 {
			out.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Round(time.Second)/time.Second)))
		}
		writeError(out, f.Status, statusMessage(f.Status), "injected fault")
	default:
		s.serveTable(out, r, body)
	}
	rec.Status = out.Code
	rec.Stalled = faulted && f.Stall
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	if rec.Stalled {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	}
	maps.Copy(w.Header(), out.Header())
	w.WriteHeader(out.Code)
	_, _ = w.Write(out.Body.Bytes())
}

func (s *Server) takeFault(method, table string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && (f.Table == "" || f.Table == table) {
			s.faults = slices.Delete(s.faults, i, i+1)
			return f, true
		}
	}
	return Fault{}, false
}

func (s *Server) authorised(r *http.Request) bool {
	if user, pass, ok := r.BasicAuth(); ok {
		return s.cfg.Username != "" && s.cfg.Password != "" && user == s.cfg.Username && pass == s.cfg.Password
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.cfg.Token != "" && token == s.cfg.Token
}
