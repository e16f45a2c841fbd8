// Package webhookfake is a receiver of Standard Webhooks for tests: an HTTP server that
// verifies each request's signature with pipeline/stdwebhook.Verify against its secrets
// (401 when it does not verify), wants a CloudEvent in structured JSON mode (415 for another
// Content-Type, 400 for a body that is not a JSON object), and deduplicates by webhook-id as
// the scheme asks of receivers: a repeated id is answered 200 again and counted, not
// recorded twice. Tests can queue other answers with FailNext; those are given after the
// signature check, and a message answered so is not taken as seen.
package webhookfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

// Response is an answer a test queues with FailNext.
type Response struct {
	Status     int
	Body       string
	RetryAfter string
}

// Delivery is one message received for the first time under its webhook-id.
type Delivery struct {
	// ID, Timestamp and Signature are the Standard Webhooks headers.
	ID, Timestamp, Signature string
	// Header holds every request header.
	Header http.Header
	// Body is the request body.
	Body []byte
}

// Server is a running fake receiver. Its methods are safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	secrets [][]byte

	mu         sync.Mutex
	queue      []Response
	deliveries []Delivery
	seen       map[string]int // webhook-id to times received after the first
	rejected   []string
	requests   int
}

// Start starts a receiver on 127.0.0.1 that accepts signatures by any of secrets
// ("whsec_..."); it is closed when the test ends.
func Start(t testing.TB, secrets ...string) *Server {
	t.Helper()
	s := &Server{seen: map[string]int{}}
	for _, sec := range secrets {
		key, err := stdwebhook.ParseSecret(sec)
		if err != nil {
			t.Fatalf("webhook fake: %v", err)
		}
		s.secrets = append(s.secrets, key)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the receiver's URL.
func (s *Server) URL() string { return s.srv.URL + "/hooks/driftwatch" }

// FailNext queues answers for the next correctly signed requests, one each.
func (s *Server) FailNext(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, rs...)
}

// Deliveries returns the messages received, once per webhook-id, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// Duplicates counts how many times a webhook-id came again after its delivery.
func (s *Server) Duplicates(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id]
}

// Rejected returns why each refused request was refused, in order.
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
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		s.refuse(w, http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if err := stdwebhook.Verify(s.secrets, r.Header, body, time.Now()); err != nil {
		s.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	s.mu.Lock()
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
		w.WriteHeader(queued.Status)
		_, _ = io.WriteString(w, queued.Body)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/cloudevents+json" {
		s.refuse(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q", r.Header.Get("Content-Type")))
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		s.refuse(w, http.StatusBadRequest, "body is not a JSON object")
		return
	}
	id := r.Header.Get(stdwebhook.HeaderID)
	s.mu.Lock()
	if _, dup := s.seen[id]; dup {
		s.seen[id]++
	} else {
		s.seen[id] = 0
		s.deliveries = append(s.deliveries, Delivery{
			ID: id, Timestamp: r.Header.Get(stdwebhook.HeaderTimestamp), Signature: r.Header.Get(stdwebhook.HeaderSignature),
			Header: r.Header.Clone(), Body: bytes.Clone(body),
		})
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) refuse(w http.ResponseWriter, status int, reason string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, reason)
	s.mu.Unlock()
	http.Error(w, reason, status)
}
