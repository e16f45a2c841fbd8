// Package pagerduty sends drift notifications to PagerDuty's Events API v2
// (developer.pagerduty.com/docs/events-api-v2/trigger-events, read 2026). Every drift is one
// alert: its dedup_key is "driftwatch/" and the drift id, so an opened and an escalated drift
// trigger the same alert, an acknowledgement acknowledges it and a resolution resolves it.
//
// Limits applied, from the same documentation: routing_key exactly 32 characters; dedup_key
// at most 255 characters (a longer one is replaced by "driftwatch/sha256:" and its hash);
// payload.summary at most 1,024 characters; the whole event at most 512 KB (taken as 512,000
// bytes), reached by cutting payload.custom_details.detail on a UTF-8 boundary. Severities
// map to PagerDuty's: critical→critical, high→error, medium→warning, low→info; an unknown one
// pages as error rather than be dropped.
//
// Answers (the Events API v2 overview's "Response Codes & Retry Logic"): 202 is success;
// 400 and any other 4xx are fault.Permanent; 429 (with a Retry-After, when given, in the
// error), 408, 5xx, timeouts and network failures are returned as they are.
package pagerduty

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
	"net/url"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Documented limits (see the package comment).
const (
	// RoutingKeyLen is the length of an integration's routing key.
	RoutingKeyLen = 32
	// MaxDedupKey is the most characters of a dedup_key.
	MaxDedupKey = 255
	// MaxSummary is the most characters of payload.summary.
	MaxSummary = 1024
	// MaxEventBytes is the most bytes of one event.
	MaxEventBytes = 512_000
)

// Config configures the sender.
type Config struct {
	// RoutingKey is the Events API v2 integration key; required, 32 letters and digits.
	RoutingKey string
	// URL is the events endpoint; default DefaultURL.
	URL string
	// Client names the sender in the alert; default "driftwatch".
	Client string
	// ClientURL links the alert to driftwatch's dashboard; default none.
	ClientURL string
	// Timeout bounds one request, answer included; default 10s.
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Client == "" {
		c.Client = "driftwatch"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.RoutingKey) != RoutingKeyLen || strings.IndexFunc(c.RoutingKey, notAlnum) >= 0 {
		errs = append(errs, fmt.Errorf("routing key: must be %d letters and digits", RoutingKeyLen))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q must be an absolute http or https URL", c.URL))
	}
	if c.ClientURL != "" {
		if u, err := url.Parse(c.ClientURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("client url: %q must be an absolute http or https URL", c.ClientURL))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

func notAlnum(r rune) bool {
	return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
}

// Sender implements notify.Sender over the Events API v2. It is safe for concurrent use.
type Sender struct {
	cfg    Config
	client *http.Client
}

var _ notify.Sender = (*Sender)(nil)

// New returns a sender; it refuses a bad config.
func New(cfg Config) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new pagerduty sender: %w", err)
	}
	return &Sender{cfg: cfg, client: &http.Client{
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// DedupKey is the dedup_key of every event about the drift driftID.
func DedupKey(driftID string) string {
	k := "driftwatch/" + driftID
	if len(k) > MaxDedupKey {
		sum := sha256.Sum256([]byte(driftID))
		k = "driftwatch/sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// Severity is PagerDuty's severity for a drift's.
func Severity(s drift.Severity) string {
	switch s {
	case drift.SeverityCritical:
		return "critical"
	case drift.SeverityHigh:
		return "error"
	case drift.SeverityMedium:
		return "warning"
	case drift.SeverityLow:
		return "info"
	}
	return "error"
}

// Send enqueues the event for n: a trigger for EventOpened and EventEscalated, an
// acknowledge for EventAcknowledged, a resolve for EventResolved. Sending one again is
// harmless: PagerDuty applies it to the same alert.
func (s *Sender) Send(ctx context.Context, n notify.Notification) error {
	body, err := s.encode(n)
	if err != nil {
		return fault.Permanent(fmt.Errorf("send pagerduty event about %s: %w", n.CIID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fault.Permanent(fmt.Errorf("send pagerduty event: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("send pagerduty event about %s: %w", n.CIID, err)
	}
	defer resp.Body.Close()
	if err := answer(resp); err != nil {
		return fmt.Errorf("send pagerduty event about %s: %w", n.CIID, err)
	}
	return nil
}

// answer classifies PagerDuty's answer.
func answer(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	// 400: {"status":"invalid event","message":"Event object is invalid","errors":[...]}.
	var r struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	text := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &r) == nil && (r.Message != "" || len(r.Errors) > 0) {
		text = strings.TrimSpace(r.Message + " " + strings.Join(r.Errors, "; "))
	}
	text = cutBytes(strings.ToValidUTF8(text, "\uFFFD"), 500)
	err := fmt.Errorf("pagerduty answered %s: %q", resp.Status, text)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		err = fmt.Errorf("pagerduty answered %s: %q (Retry-After %s)", resp.Status, text, ra)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests, c == http.StatusRequestTimeout, c >= 500:
		return err
	default:
		return fault.Permanent(err)
	}
}
