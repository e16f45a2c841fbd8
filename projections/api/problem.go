package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// Problem is an RFC 9457 problem detail, the body of every error response. It is also the
// error handlers return to choose their answer.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// InvalidParams names each bad field, query parameter or body member.
	InvalidParams []InvalidParam `json:"invalid_params,omitempty"`
	// cause is logged, never shown.
	cause error
}

// InvalidParam is one bad field and why.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Error implements error.
func (p *Problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", p.Status, p.Title, p.Detail, p.cause)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.cause }

// problem builds a Problem; kind names its type.
func problem(status int, kind, detail string, params ...InvalidParam) *Problem {
	return &Problem{Type: "urn:driftwatch:problem:" + kind, Title: http.StatusText(status), Status: status, Detail: detail, InvalidParams: params}
}

func badRequest(detail string, params ...InvalidParam) *Problem {
	return problem(http.StatusBadRequest, "bad-request", detail, params...)
}

func notFound(what, id string) *Problem {
	return problem(http.StatusNotFound, "not-found", fmt.Sprintf("%s %q does not exist", what, id))
}

func conflict(detail string) *Problem { return problem(http.StatusConflict, "conflict", detail) }

// unavailable is a 503: a dependency failed; retrying may help.
func unavailable(detail string, cause error) *Problem {
	p := problem(http.StatusServiceUnavailable, "unavailable", detail)
	p.cause = cause
	return p
}

// invalid turns the errors.Join of "field: reason" errors that Validate methods return into
// a 400 naming each field.
func invalid(what string, err error) *Problem {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	params := make([]InvalidParam, 0, len(errs))
	names := make([]string, 0, len(errs))
	for _, e := range errs {
		name, reason, ok := strings.Cut(e.Error(), ": ")
		if !ok {
			name, reason = "body", e.Error()
		}
		params = append(params, InvalidParam{Name: name, Reason: reason})
		names = append(names, name)
	}
	return problem(http.StatusBadRequest, "validation", fmt.Sprintf("invalid %s: %s", what, strings.Join(names, ", ")), params...)
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap writes a handler's error as a problem and logs it, once: server errors at Error,
// client errors at Debug.
func (a *api) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		err := h(w, r)
		if err == nil {
			return
		}
		var p *Problem
		if !errors.As(err, &p) {
			p = problem(http.StatusInternalServerError, "internal", "the request failed; see the server log")
			p.cause = err
		}
		fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", p.Status), zap.Error(err)}
		if p.Status >= 500 {
			a.Logger.Error("Request failed", fields...)
		} else {
			a.Logger.Debug("Request refused", fields...)
		}
		writeProblem(w, p)
	})
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// problemMux turns the mux's own 404 and 405 answers into problems.
type problemMux struct{ mux *http.ServeMux }

// ServeHTTP implements http.Handler.
func (m problemMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := m.mux.Handler(r); pattern != "" {
		m.mux.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{header: http.Header{}}
	m.mux.ServeHTTP(rec, r)
	for _, h := range []string{"Allow", "Location"} {
		if v := rec.header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	switch {
	case rec.code == http.StatusMethodNotAllowed:
		writeProblem(w, problem(rec.code, "method-not-allowed", fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))))
	case rec.code >= 400 || rec.code == 0:
		writeProblem(w, problem(http.StatusNotFound, "not-found", fmt.Sprintf("no resource at %s", r.URL.Path)))
	default:
		w.WriteHeader(rec.code)
	}
}

// statusRecorder keeps the status and headers of the mux's own answers, dropping the body.
type statusRecorder struct {
	header http.Header
	code   int
}

// Header implements http.ResponseWriter.
func (s *statusRecorder) Header() http.Header { return s.header }

// WriteHeader implements http.ResponseWriter; the first status wins.
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

// Write implements http.ResponseWriter and drops the body.
func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}
