package servicenow_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/internal/testsupport/servicenowfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

var creds = servicenowfake.Config{Username: "driftwatch", Password: "s3cret", Token: "tok-123"}

// instance starts a fake and a client of it; change tunes the client's config.
func instance(t *testing.T, change func(*servicenow.Config)) (*servicenowfake.Server, *servicenow.Client) {
	t.Helper()
	srv := servicenowfake.Start(t, creds)
	cfg := servicenow.Config{Instance: srv.URL(), Username: creds.Username, Password: creds.Password, Timeout: 5 * time.Second}
	if change != nil {
		change(&cfg)
	}
	c, err := servicenow.New(cfg, nil)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return srv, c
}

// request is a change request for one drift.
func request(corr string) action.TicketRequest {
	return action.TicketRequest{
		CorrelationID: corr, Kind: action.TicketChangeRequest, DriftID: "d-1", CIID: "web-01", CIType: "vm",
		Field: "/power_state", Category: drift.CategoryState, Severity: drift.SeverityHigh,
		ShortDescription: "web-01 /power_state: desired \"running\", actual \"stopped\"",
		Description:      "The VM is powered off but NetBox says it should be running.",
		PolicyID:         "policy-vm-config-drift", At: time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC),
	}
}

func open(t *testing.T, c *servicenow.Client, r action.TicketRequest) action.Ticket {
	t.Helper()
	tk, err := c.Open(t.Context(), r)
	if err != nil {
		t.Fatalf("open %s: %v", r.CorrelationID, err)
	}
	return tk
}

func body(t *testing.T, r servicenowfake.Request) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body of %s %s: %v", r.Method, r.Path, err)
	}
	return m
}

func methods(rs []servicenowfake.Request) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+r.Path)
	}
	return strings.Join(out, ", ")
}

func hashed(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestNewRefusesABadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      servicenow.Config
		mentions []string
	}{
		{"reports_every_problem_of_an_empty_config", servicenow.Config{Timeout: -1}, []string{"instance: required", "auth: required", "timeout"}},
		{"refuses_plain_http_to_a_remote_instance", servicenow.Config{Instance: "http://example.service-now.com", Token: "t"}, []string{"https"}},
		{"refuses_both_basic_auth_and_a_token", servicenow.Config{Instance: "https://example.service-now.com", Username: "u", Password: "p", Token: "t"}, []string{"not both"}},
		{"refuses_a_username_without_a_password", servicenow.Config{Instance: "https://example.service-now.com", Username: "u"}, []string{"both username and password"}},
		{"refuses_an_instance_url_with_a_query", servicenow.Config{Instance: "https://example.service-now.com/?x=1", Token: "t"}, []string{"query"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := servicenow.New(tt.cfg, nil)
			for _, m := range tt.mentions {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to mention %q", err, m)
				}
			}
		})
	}
	if _, err := servicenow.New(servicenow.Config{Instance: "https://example.service-now.com/", Token: "t"}, nil); err != nil {
		t.Errorf("a good config: %v", err)
	}
}
