package ticketwebhook_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/ticketwebhook"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

var (
	oldSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("the secret being rotated out"))
	newSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("the secret rotated in"))
)

// delivery is one verified message a receiver took.
type delivery struct {
	header  http.Header
	payload []byte
	msg     ticketwebhook.Message
}

// ticket is a receiver's record.
type ticket struct {
	answer ticketwebhook.Answer
	kind   action.TicketKind
	notes  []string
	closed bool
	code   string
}

// injected is a failure the receiver injects into the next request.
type injected struct {
	status     int
	retryAfter string
	body       string
	stall      bool // act, then withhold the answer until the client gives up
}

// receiver is an ITSM webhook receiver that keeps the contract of the package doc: it
// verifies signatures with stdwebhook.Verify, deduplicates on Idempotency-Key and checks
// that webhook-id is the key the action calls for.
type receiver struct {
	secrets [][]byte
	srv     *httptest.Server
	release chan struct{}

	mu         sync.Mutex
	seen       map[string]int // idempotency key → status answered
	answers    map[string]ticketwebhook.Answer
	tickets    map[string]*ticket
	deliveries []delivery
	refused    []string
	faults     []injected
}

func newReceiver(t *testing.T, secrets ...string) *receiver {
	t.Helper()
	r := &receiver{seen: map[string]int{}, answers: map[string]ticketwebhook.Answer{}, tickets: map[string]*ticket{}, release: make(chan struct{})}
	for _, s := range secrets {
		key, err := stdwebhook.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		r.secrets = append(r.secrets, key)
	}
	r.srv = httptest.NewServer(r)
	t.Cleanup(func() { close(r.release); r.srv.Close() })
	return r
}

func (rc *receiver) inject(f injected) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.faults = append(rc.faults, f)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	payload, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	var f injected
	if len(rc.faults) > 0 {
		f, rc.faults = rc.faults[0], rc.faults[1:]
	}
	status, body := rc.take(r, payload, f)
	rc.mu.Unlock()
	if f.stall {
		select {
		case <-r.Context().Done():
		case <-rc.release:
		}
		return
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// take handles one message; rc.mu is held.
func (rc *receiver) take(r *http.Request, payload []byte, f injected) (int, []byte) {
	fail := func(status int, msg string) (int, []byte) {
		rc.refused = append(rc.refused, msg)
		b, _ := json.Marshal(map[string]string{"error": msg})
		return status, b
	}
	if f.status != 0 {
		if f.body != "" {
			return f.status, []byte(f.body)
		}
		return fail(f.status, "injected fault")
	}
	if err := stdwebhook.Verify(rc.secrets, r.Header, payload, time.Now()); err != nil {
		return fail(http.StatusUnauthorized, err.Error())
	}
	var m ticketwebhook.Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return fail(http.StatusBadRequest, "not a message")
	}
	key, id := r.Header.Get(ticketwebhook.HeaderIdempotencyKey), r.Header.Get(stdwebhook.HeaderID)
	wantID := key
	if m.Action == ticketwebhook.ActionOpen {
		wantID = m.CorrelationID + ":open"
		if key != m.CorrelationID {
			return fail(http.StatusBadRequest, "Idempotency-Key is not the correlation id")
		}
	}
	if key == "" || id != wantID {
		return fail(http.StatusBadRequest, fmt.Sprintf("webhook-id %q, want %q", id, wantID))
	}
	rc.deliveries = append(rc.deliveries, delivery{header: r.Header.Clone(), payload: payload, msg: m})
	if status, dup := rc.seen[key]; dup {
		if m.Action == ticketwebhook.ActionOpen {
			b, _ := json.Marshal(rc.answers[key])
			return http.StatusOK, b
		}
		return status, nil
	}
	switch m.Action {
	case ticketwebhook.ActionOpen:
		n := len(rc.answers) + 1
		a := ticketwebhook.Answer{ID: fmt.Sprintf("t-%04d", n), Number: fmt.Sprintf("TKT%04d", n), URL: fmt.Sprintf("https://itsm.example/t/%d", n)}
		rc.answers[key], rc.tickets[a.ID] = a, &ticket{answer: a, kind: m.Kind}
		rc.seen[key] = http.StatusCreated
		b, _ := json.Marshal(a)
		return http.StatusCreated, b
	case ticketwebhook.ActionUpdate, ticketwebhook.ActionClose:
		tk := rc.tickets[m.ID]
		for _, t := range rc.tickets {
			if m.ID == "" && t.answer.Number == m.Number {
				tk = t
			}
		}
		if tk == nil {
			return fail(http.StatusNotFound, "no ticket "+m.ID)
		}
		if m.Action == ticketwebhook.ActionUpdate && !tk.closed {
			tk.notes = append(tk.notes, m.Note)
		}
		if m.Action == ticketwebhook.ActionClose && !tk.closed {
			tk.closed, tk.code = true, m.Code
		}
		rc.seen[key] = http.StatusAccepted
		return http.StatusAccepted, nil
	}
	return fail(http.StatusBadRequest, "unknown action "+m.Action)
}

func (rc *receiver) snapshot() ([]delivery, map[string]ticket, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ts := map[string]ticket{}
	for id, t := range rc.tickets {
		ts[id] = *t
	}
	return append([]delivery(nil), rc.deliveries...), ts, append([]string(nil), rc.refused...)
}

func client(t *testing.T, rc *receiver, timeout time.Duration, secrets ...string) *ticketwebhook.Client {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{newSecret}
	}
	c, err := ticketwebhook.New(ticketwebhook.Config{URL: rc.srv.URL + "/itsm", Secrets: secrets, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func request(corr string) action.TicketRequest {
	return action.TicketRequest{
		CorrelationID: corr, Kind: action.TicketChangeRequest, DriftID: "d-1", CIID: "web-01", CIType: "vm",
		Field: "/power_state", Category: drift.CategoryState, Severity: drift.SeverityHigh,
		ShortDescription: "web-01 /power_state drifted", Description: "The VM is off.",
		Desired: json.RawMessage(`"running"`), Actual: json.RawMessage(`"stopped"`), PolicyID: "p-1",
		At: time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC),
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, rc *receiver)
	}{
		{
			name: "posts_a_signed_open_with_the_correlation_id_as_idempotency_key",
			run: func(t *testing.T, rc *receiver) {
				tk, err := client(t, rc, time.Second).Open(t.Context(), request("drift-1:change_request"))
				if err != nil {
					t.Fatal(err)
				}
				want := action.Ticket{Kind: action.TicketChangeRequest, ID: "t-0001", Number: "TKT0001", URL: "https://itsm.example/t/1", Created: true}
				if tk != want {
					t.Errorf("ticket = %+v, want %+v", tk, want)
				}
				ds, _, _ := rc.snapshot()
				if len(ds) != 1 {
					t.Fatalf("%d deliveries, want 1", len(ds))
				}
				var got map[string]any
				_ = json.Unmarshal(ds[0].payload, &got)
				wantBody := map[string]any{
					"action": "open", "kind": "change_request", "correlation_id": "drift-1:change_request",
					"drift_id": "d-1", "ci_id": "web-01", "ci_type": "vm", "field": "/power_state", "category": "state",
					"severity": "high", "short_description": "web-01 /power_state drifted", "description": "The VM is off.",
					"desired": "running", "actual": "stopped", "policy_id": "p-1", "at": "2026-02-22T10:00:00Z",
				}
				if !reflect.DeepEqual(got, wantBody) {
					t.Errorf("payload =\n%v\nwant\n%v", got, wantBody)
				}
				h := ds[0].header
				if h.Get("Idempotency-Key") != "drift-1:change_request" || h.Get("webhook-id") != "drift-1:change_request:open" || h.Get("Content-Type") != "application/json" {
					t.Errorf("headers %v", h)
				}
			},
		},
		{
			name: "finds_the_ticket_again_when_an_open_is_retried_after_a_lost_answer",
			run: func(t *testing.T, rc *receiver) {
				c := client(t, rc, 300*time.Millisecond)
				rc.inject(injected{stall: true})
				if _, err := c.Open(t.Context(), request("drift-1:change_request")); err == nil || fault.IsPermanent(err) {
					t.Fatalf("open with a lost answer: err = %v, want a retryable error", err)
				}
				tk, err := c.Open(t.Context(), request("drift-1:change_request"))
				if err != nil {
					t.Fatal(err)
				}
				ds, tickets, _ := rc.snapshot()
				if tk.Created || tk.ID != "t-0001" || len(tickets) != 1 {
					t.Errorf("retry = %+v with %d tickets, want t-0001, not created, and one ticket", tk, len(tickets))
				}
				if len(ds) != 2 || ds[0].header.Get("webhook-id") != ds[1].header.Get("webhook-id") || string(ds[0].payload) != string(ds[1].payload) {
					t.Errorf("the retry was not the same message: %d deliveries", len(ds))
				}
			},
		},
		{
			name: "signs_with_every_secret_so_a_receiver_that_rotated_verifies",
			run: func(t *testing.T, rc *receiver) {
				// rc knows only newSecret; the client still signs with both.
				c := client(t, rc, time.Second, oldSecret, newSecret)
				if _, err := c.Open(t.Context(), request("drift-1:change_request")); err != nil {
					t.Fatal(err)
				}
				ds, _, _ := rc.snapshot()
				if sigs := strings.Fields(ds[0].header.Get("webhook-signature")); len(sigs) != 2 {
					t.Errorf("signatures %q, want two", sigs)
				}
			},
		},
		{
			name: "a_receiver_that_cannot_verify_the_signature_is_a_permanent_failure",
			run: func(t *testing.T, rc *receiver) {
				_, err := client(t, rc, time.Second, oldSecret).Open(t.Context(), request("drift-1:change_request"))
				var e *ticketwebhook.Error
				if !fault.IsPermanent(err) || !errors.As(err, &e) || e.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "no signature matches") {
					t.Errorf("err = %v, want a permanent 401 naming the receiver's reason", err)
				}
			},
		},
		{
			name: "refuses_a_correlation_id_that_cannot_go_into_a_header",
			run: func(t *testing.T, rc *receiver) {
				for _, id := range []string{"", "drift 1", "drift-1\r\nX-Evil: 1", "drïft"} {
					if _, err := client(t, rc, time.Second).Open(t.Context(), request(id)); !fault.IsPermanent(err) {
						t.Errorf("open %q: err = %v, want permanent", id, err)
					}
				}
				if ds, _, refused := rc.snapshot(); len(ds)+len(refused) != 0 {
					t.Errorf("sent %d messages", len(ds)+len(refused))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newReceiver(t, newSecret))
		})
	}
}

func TestUpdateAndClose(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 22, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T, rc *receiver, c *ticketwebhook.Client, tk action.Ticket)
	}{
		{
			name: "update_posts_the_note_for_the_ticket",
			run: func(t *testing.T, rc *receiver, c *ticketwebhook.Client, tk action.Ticket) {
				if err := c.Update(t.Context(), tk, action.TicketUpdate{Note: "Remediation failed.", Severity: drift.SeverityCritical, At: at}); err != nil {
					t.Fatal(err)
				}
				ds, tickets, _ := rc.snapshot()
				m := ds[len(ds)-1].msg
				if m.Action != "update" || m.ID != tk.ID || m.Number != tk.Number || m.Severity != drift.SeverityCritical || !m.At.Equal(at) {
					t.Errorf("message %+v", m)
				}
				if key := ds[len(ds)-1].header.Get("Idempotency-Key"); !strings.HasPrefix(key, tk.ID+":update:") || len(key) != len(tk.ID)+len(":update:")+16 {
					t.Errorf("key %q, want %s:update:<16 hex>", key, tk.ID)
				}
				if notes := tickets[tk.ID].notes; len(notes) != 1 || notes[0] != "Remediation failed." {
					t.Errorf("notes %q", notes)
				}
			},
		},
		{
			name: "a_retried_update_carries_the_same_key_and_adds_its_note_once",
			run: func(t *testing.T, rc *receiver, c *ticketwebhook.Client, tk action.Ticket) {
				u := action.TicketUpdate{Note: "Remediation failed.", At: at}
				rc.inject(injected{status: http.StatusServiceUnavailable})
				if err := c.Update(t.Context(), tk, u); err == nil || fault.IsPermanent(err) {
					t.Fatalf("update with a 503: err = %v, want retryable", err)
				}
				for range 2 {
					if err := c.Update(t.Context(), tk, u); err != nil {
						t.Fatal(err)
					}
				}
				u.At = at.Add(time.Minute)
				if err := c.Update(t.Context(), tk, u); err != nil {
					t.Fatal(err)
				}
				ds, tickets, _ := rc.snapshot()
				keys := map[string]bool{}
				for _, d := range ds[1:] {
					keys[d.header.Get("Idempotency-Key")] = true
				}
				if len(tickets[tk.ID].notes) != 2 || len(keys) != 2 {
					t.Errorf("notes %q from %d keys, want 2 notes from 2 keys (one update retried, one later)", tickets[tk.ID].notes, len(keys))
				}
			},
		},
		{
			name: "close_posts_the_code_and_notes_and_closing_twice_is_harmless",
			run: func(t *testing.T, rc *receiver, c *ticketwebhook.Client, tk action.Ticket) {
				for _, code := range []string{"successful", "unsuccessful"} {
					if err := c.Close(t.Context(), tk, action.TicketClose{Code: code, Notes: "Resolved.", At: at}); err != nil {
						t.Fatal(err)
					}
				}
				ds, tickets, _ := rc.snapshot()
				m := ds[len(ds)-1].msg
				if m.Action != "close" || m.ID != tk.ID || m.Notes != "Resolved." || ds[len(ds)-1].header.Get("webhook-id") != tk.ID+":close" {
					t.Errorf("message %+v", m)
				}
				if got := tickets[tk.ID]; !got.closed || got.code != "successful" {
					t.Errorf("ticket %+v, want closed as successful by the first close", got)
				}
			},
		},
		{
			name: "addresses_a_ticket_by_number_when_the_id_is_unknown",
			run: func(t *testing.T, rc *receiver, c *ticketwebhook.Client, tk action.Ticket) {
				if err := c.Close(t.Context(), action.Ticket{Kind: tk.Kind, Number: tk.Number}, action.TicketClose{}); err != nil {
					t.Fatal(err)
				}
				ds, tickets, _ := rc.snapshot()
				if got := ds[len(ds)-1]; got.msg.ID != "" || got.msg.Number != tk.Number || got.header.Get("Idempotency-Key") != tk.Number+":close" {
					t.Errorf("message %+v key %q, want the number and key %s:close", got.msg, got.header.Get("Idempotency-Key"), tk.Number)
				}
				if !tickets[tk.ID].closed {
					t.Error("the ticket is still open")
				}
				err := c.Close(t.Context(), action.Ticket{Kind: tk.Kind, Number: "TKT9999"}, action.TicketClose{})
				var e *ticketwebhook.Error
				if !fault.IsPermanent(err) || !errors.As(err, &e) || e.Status != http.StatusNotFound {
					t.Errorf("close of an unknown ticket: err = %v, want a permanent 404", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, newSecret)
			c := client(t, rc, time.Second)
			tk, err := c.Open(t.Context(), request("drift-1:change_request"))
			if err != nil {
				t.Fatal(err)
			}
			tt.run(t, rc, c, tk)
		})
	}
}

func TestErrorsAreClassifiedByStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      injected
		permanent  bool
		retryAfter time.Duration
		mentions   string
	}{
		{"a_400_is_permanent", injected{status: 400}, true, 0, "injected fault"},
		{"a_403_is_permanent", injected{status: 403}, true, 0, "injected fault"},
		{"a_404_is_permanent", injected{status: 404}, true, 0, "injected fault"},
		{"a_409_is_permanent", injected{status: 409, body: `{"error":{"message":"ticket is locked"}}`}, true, 0, "ticket is locked"},
		{"a_408_is_retryable", injected{status: 408}, false, 0, "injected fault"},
		{"a_429_is_retryable_after_its_wait", injected{status: 429, retryAfter: "12"}, false, 12 * time.Second, "retry after 12s"},
		{"a_500_is_retryable", injected{status: 500, body: "<html>oops</html>"}, false, 0, "oops"},
		{"a_503_is_retryable", injected{status: 503, body: `{"message":"maintenance"}`}, false, 0, "maintenance"},
		{"a_redirect_is_permanent", injected{status: 302}, true, 0, "302"},
		{"an_answer_without_an_id_breaks_the_contract", injected{status: 201, body: `{"number":"X1"}`}, true, 0, "no id"},
		{"an_answer_that_is_not_json_breaks_the_contract", injected{status: 200, body: `ok`}, true, 0, "contract"},
		{"a_202_to_an_open_breaks_the_contract", injected{status: 202, body: `{"id":"x"}`}, true, 0, "202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, newSecret)
			rc.inject(tt.fault)
			_, err := client(t, rc, time.Second).Open(t.Context(), request("drift-1:change_request"))
			if err == nil || fault.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.mentions) {
				t.Fatalf("err = %v, want permanent %v mentioning %q", err, tt.permanent, tt.mentions)
			}
			var e *ticketwebhook.Error
			if errors.As(err, &e) && e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after %s, want %s", e.RetryAfter, tt.retryAfter)
			}
		})
	}
	t.Run("a_timeout_is_retryable", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, newSecret)
		rc.inject(injected{stall: true})
		_, err := client(t, rc, 200*time.Millisecond).Open(t.Context(), request("drift-1:change_request"))
		if err == nil || fault.IsPermanent(err) {
			t.Errorf("err = %v, want retryable", err)
		}
	})
}

func TestNewRefusesABadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      ticketwebhook.Config
		mentions []string
	}{
		{"reports_every_problem_of_an_empty_config", ticketwebhook.Config{Timeout: -1}, []string{"url: required", "secrets: at least one", "timeout"}},
		{"refuses_a_secret_that_is_not_base64", ticketwebhook.Config{URL: "https://itsm.example/hook", Secrets: []string{newSecret, "whsec_%%%"}}, []string{"secrets[1]"}},
		{"refuses_plain_http_to_a_remote_receiver", ticketwebhook.Config{URL: "http://itsm.example/hook", Secrets: []string{newSecret}}, []string{"https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ticketwebhook.New(tt.cfg, nil)
			for _, m := range tt.mentions {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to mention %q", err, m)
				}
			}
		})
	}
}
