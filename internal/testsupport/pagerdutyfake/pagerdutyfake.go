// Package pagerdutyfake is PagerDuty's Events API v2 endpoint (POST /v2/enqueue) for tests:
// it validates each event against the documented rules
// (developer.pagerduty.com/docs/events-api-v2/trigger-events), answers as PagerDuty does,
// records the events it accepts and keeps each dedup_key's alert state, so that tests can
// assert that one drift makes one alert.
//
// Rules, each refused with 400 {"status":"invalid event","message":"Event object is
// invalid","errors":[...]}: a JSON object of at most 512 KB (512,000 bytes) with no unknown
// key (stricter than PagerDuty, to catch misspelt fields); routing_key of exactly 32
// characters; event_action trigger, acknowledge or resolve; dedup_key of at most 255
// characters, required for acknowledge and resolve; for trigger a payload with summary (1 to
// 1,024 characters), source (not blank), severity (critical, error, warning or info), an
// RFC 3339 timestamp when given, component, group and class strings, custom_details an
// object; links with an href each; images with an https src each. Accepted events get 202
// {"status":"success","message":"Event processed","dedup_key":"..."}.
//
// Alert state per dedup_key, as PagerDuty documents it: a trigger opens an alert when none is
// open (or adds to the open one); acknowledge and resolve apply to the open alert and are
// dropped when there is none; after a resolve, a trigger opens a new alert.
package pagerdutyfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// MaxEventBytes is the largest event accepted.
const MaxEventBytes = 512_000

// Status is the state of a dedup_key's latest alert.
type Status string

// Alert states.
const (
	StatusNone         Status = ""
	StatusTriggered    Status = "triggered"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// Event is one accepted event, decoded.
type Event struct {
	RoutingKey  string         `json:"routing_key"`
	EventAction string         `json:"event_action"`
	DedupKey    string         `json:"dedup_key"`
	Payload     map[string]any `json:"payload"`
	Client      string         `json:"client"`
	ClientURL   string         `json:"client_url"`
	Links       []any          `json:"links"`
	Images      []any          `json:"images"`
	// Raw is the request body.
	Raw []byte `json:"-"`
}

// Alert is a dedup_key's alert history.
type Alert struct {
	// Status is the latest alert's state.
	Status Status
	// Alerts counts the alerts opened under the key (a trigger after a resolve opens another).
	Alerts int
	// Triggers, Acknowledges and Resolves count the events applied to an alert.
	Triggers, Acknowledges, Resolves int
	// Dropped counts acknowledge and resolve events that found no open alert.
	Dropped int
}

// Response is an answer a test queues with FailNext.
type Response struct {
	Status     int
	Body       string
	RetryAfter string
}

// Server is a running fake endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	queue    []Response
	events   []Event
	alerts   map[string]*Alert
	rejected []string
	requests int
}

// Start starts a fake on 127.0.0.1; it is closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{alerts: map[string]*Alert{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the events endpoint, ".../v2/enqueue".
func (s *Server) URL() string { return s.srv.URL + "/v2/enqueue" }

// FailNext queues answers for the next requests, one each, before any check.
func (s *Server) FailNext(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, rs...)
}

// Events returns the accepted events, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Alert returns the alert history of a dedup_key.
func (s *Server) Alert(dedupKey string) Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.alerts[dedupKey]; a != nil {
		return *a
	}
	return Alert{}
}

// Rejected returns the errors of each refused event, in order.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// Requests counts every request received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	var queued *Response
	if len(s.queue) > 0 {
		queued = &s.queue[0]
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()
	if queued != nil {
		if queued.RetryAfter != "" {
			w.Header().Set("Retry-After", queued.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(queued.Status)
		_, _ = io.WriteString(w, queued.Body)
		return
	}
	if r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, MaxEventBytes+1))
	ev, errs := Check(r.Header.Get("Content-Type"), raw)
	if len(errs) > 0 {
		s.mu.Lock()
		s.rejected = append(s.rejected, strings.Join(errs, "; "))
		s.mu.Unlock()
		reply(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	if ev.DedupKey == "" {
		ev.DedupKey = randomKey()
	}
	s.apply(ev)
	reply(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

func (s *Server) apply(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	a := s.alerts[ev.DedupKey]
	if a == nil {
		a = &Alert{}
		s.alerts[ev.DedupKey] = a
	}
	open := a.Status == StatusTriggered || a.Status == StatusAcknowledged
	switch ev.EventAction {
	case "trigger":
		if !open {
			a.Alerts++
			a.Status = StatusTriggered
		}
		a.Triggers++
	case "acknowledge":
		if !open {
			a.Dropped++
			return
		}
		a.Acknowledges++
		a.Status = StatusAcknowledged
	case "resolve":
		if !open {
			a.Dropped++
			return
		}
		a.Resolves++
		a.Status = StatusResolved
	}
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	topKeys     = []string{"routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links", "images"}
	payloadKeys = []string{"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}
	severities  = []string{"critical", "error", "warning", "info"}
)

// Check validates an event as the endpoint does and returns it decoded, or the errors.
func Check(contentType string, raw []byte) (Event, []string) {
	var ev Event
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return ev, []string{fmt.Sprintf("Content-Type %q is not application/json", contentType)}
	}
	if len(raw) > MaxEventBytes {
		return ev, []string{fmt.Sprintf("Event of more than %d bytes is too large", MaxEventBytes)}
	}
	if !utf8.Valid(raw) {
		return ev, []string{"Event is not UTF-8"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return ev, []string{"Event is not a JSON object: " + err.Error()}
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, []string{"Event has a field of the wrong type: " + err.Error()}
	}
	ev.Raw = bytes.Clone(raw)
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for k := range top {
		if !slices.Contains(topKeys, k) {
			bad("Unknown field '%s'", k)
		}
	}
	if n := utf8.RuneCountInString(ev.RoutingKey); n != 32 {
		bad("Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	switch ev.EventAction {
	case "trigger", "acknowledge", "resolve":
	default:
		bad("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if utf8.RuneCountInString(ev.DedupKey) > 255 {
		bad("'dedup_key' is too long (maximum 255 characters)")
	}
	if (ev.EventAction == "acknowledge" || ev.EventAction == "resolve") && strings.TrimSpace(ev.DedupKey) == "" {
		bad("'dedup_key' is missing or blank")
	}
	if ev.EventAction == "trigger" {
		errs = append(errs, checkPayload(top["payload"])...)
	}
	for i, l := range ev.Links {
		m, ok := l.(map[string]any)
		if href, _ := m["href"].(string); !ok || href == "" {
			bad("'links[%d].href' is missing or blank", i)
		}
	}
	for i, im := range ev.Images {
		m, ok := im.(map[string]any)
		if src, _ := m["src"].(string); !ok || !strings.HasPrefix(src, "https://") {
			bad("'images[%d].src' must be an https URL", i)
		}
	}
	return ev, errs
}

func checkPayload(raw json.RawMessage) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	var p map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &p) != nil || p == nil {
		return []string{"'payload' is missing or not an object"}
	}
	for k := range p {
		if !slices.Contains(payloadKeys, k) {
			bad("Unknown field 'payload.%s'", k)
		}
	}
	str := func(k string) (string, bool) {
		v, ok := p[k]
		if !ok {
			return "", false
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			bad("'payload.%s' must be a string", k)
		}
		return s, true
	}
	if s, _ := str("summary"); strings.TrimSpace(s) == "" {
		bad("'payload.summary' is missing or blank")
	} else if n := utf8.RuneCountInString(s); n > 1024 {
		bad("'payload.summary' is too long (%d characters, maximum 1024)", n)
	}
	if s, _ := str("source"); strings.TrimSpace(s) == "" {
		bad("'payload.source' is missing or blank")
	}
	if s, _ := str("severity"); !slices.Contains(severities, s) {
		bad("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
	}
	if s, ok := str("timestamp"); ok {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			bad("'payload.timestamp' is not an ISO 8601 timestamp")
		}
	}
	for _, k := range []string{"component", "group", "class"} {
		str(k)
	}
	if v, ok := p["custom_details"]; ok {
		var o map[string]any
		if json.Unmarshal(v, &o) != nil {
			bad("'payload.custom_details' must be an object")
		}
	}
	return errs
}
