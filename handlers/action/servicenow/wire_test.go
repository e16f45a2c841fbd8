package servicenow_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestErrorsAreClassifiedByStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter time.Duration
		permanent  bool
	}{
		{http.StatusBadRequest, 0, true},
		{http.StatusUnauthorized, 0, true},
		{http.StatusForbidden, 0, true},
		{http.StatusNotFound, 0, true},
		{http.StatusTooManyRequests, 7 * time.Second, false},
		{http.StatusInternalServerError, 0, false},
		{http.StatusBadGateway, 0, false},
		{http.StatusServiceUnavailable, 30 * time.Second, false},
	}
	for _, tt := range tests {
		kind := "retryable"
		if tt.permanent {
			kind = "permanent"
		}
		t.Run(fmt.Sprintf("a_%d_answer_is_%s", tt.status, kind), func(t *testing.T) {
			t.Parallel()
			srv, c := instance(t, nil)
			srv.Inject(servicenowfake.Fault{Status: tt.status, RetryAfter: tt.retryAfter})
			_, err := c.Open(t.Context(), request("drift-1:change_request"))
			var e *servicenow.Error
			if err == nil || fault.IsPermanent(err) != tt.permanent || !errors.As(err, &e) {
				t.Fatalf("err = %v, want a %s *servicenow.Error", err, kind)
			}
			if e.Status != tt.status || e.RetryAfter != tt.retryAfter || e.Detail != "injected fault" ||
				!strings.Contains(err.Error(), e.Message) || !strings.Contains(err.Error(), "injected fault") {
				t.Errorf("error %+v (%v), want status %d, retry after %s, message and detail in the text", e, err, tt.status, tt.retryAfter)
			}
			// A retryable failure leaves nothing behind: the retry opens the ticket.
			if !tt.permanent {
				if tk := open(t, c, request("drift-1:change_request")); !tk.Created {
					t.Errorf("retry = %+v, want a new ticket", tk)
				}
			}
		})
	}
}

func TestOtherFailuresAreClassified(t *testing.T) {
	t.Parallel()
	stub := func(t *testing.T, h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	tests := []struct {
		name      string
		instance  func(t *testing.T) (string, servicenow.Config)
		permanent bool
		mentions  string
	}{
		{
			name: "wrong_credentials_are_permanent",
			instance: func(t *testing.T) (string, servicenow.Config) {
				return servicenowfake.Start(t, creds).URL(), servicenow.Config{Username: "driftwatch", Password: "wrong"}
			},
			permanent: true, mentions: "User Not Authenticated (Required to provide Auth information)",
		},
		{
			name: "a_timeout_is_retryable",
			instance: func(t *testing.T) (string, servicenow.Config) {
				srv := servicenowfake.Start(t, creds)
				srv.Inject(servicenowfake.Fault{Method: http.MethodGet, Stall: true})
				return srv.URL(), servicenow.Config{Timeout: 200 * time.Millisecond}
			},
			mentions: "deadline exceeded",
		},
		{
			name: "a_refused_connection_is_retryable",
			instance: func(t *testing.T) (string, servicenow.Config) {
				s := httptest.NewServer(http.NotFoundHandler())
				s.Close()
				return s.URL, servicenow.Config{}
			},
			mentions: "connection refused",
		},
		{
			name: "an_html_page_of_a_hibernating_instance_is_retryable",
			instance: func(t *testing.T) (string, servicenow.Config) {
				return stub(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					_, _ = w.Write([]byte("<html><body>Your instance is hibernating</body></html>"))
				}), servicenow.Config{}
			},
			mentions: "hibernating",
		},
		{
			name: "a_redirect_to_a_login_page_is_permanent",
			instance: func(t *testing.T) (string, servicenow.Config) {
				return stub(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/login.do", http.StatusFound)
				}), servicenow.Config{}
			},
			permanent: true, mentions: "login.do",
		},
		{
			name: "an_instance_that_ignores_the_query_is_caught",
			instance: func(t *testing.T) (string, servicenow.Config) {
				return stub(t, func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write([]byte(`{"result":[{"sys_id":"0123456789abcdef0123456789abcdef","number":"CHG0030009","state":"-5","correlation_id":"drift-9:change_request"}]}`))
				}), servicenow.Config{}
			},
			permanent: true, mentions: "CHG0030009",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, cfg := tt.instance(t)
			cfg.Instance = u
			if cfg.Username == "" {
				cfg.Username, cfg.Password = creds.Username, creds.Password
			}
			c, err := servicenow.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Open(t.Context(), request("drift-1:change_request"))
			if err == nil || fault.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.mentions) {
				t.Errorf("err = %v, want permanent %v mentioning %q", err, tt.permanent, tt.mentions)
			}
		})
	}
}
