// Package webhook posts drift notifications to a generic HTTP endpoint as CloudEvents 1.0 in
// structured JSON mode (Content-Type application/cloudevents+json; the CloudEvents HTTP
// protocol binding), signed per Standard Webhooks with pipeline/stdwebhook: webhook-id is
// Notification.Key, so a receiver deduplicates retries; webhook-timestamp is the time of the
// attempt; webhook-signature holds one signature per configured secret, so that a secret
// can be rotated without a gap.
//
// The event: specversion "1.0", id Notification.Key, source "driftwatch", type
// "io.driftwatch.notification.<event>.v1", subject the CI id, time Notification.At,
// datacontenttype application/json, and data the notification with snake_case keys. The body
// is cut to Config.MaxBytes (default 256 KiB) by shortening data.detail on a UTF-8 boundary
// (data.detail_bytes then says how long it was); there is no service limit to follow, the
// bound is ours.
//
// Answers: 2xx is success; 429 (with its Retry-After in the error), 408, 5xx, timeouts and
// network failures are returned as they are; redirects (not followed, since a signed body
// must go where it was meant to) and every other 4xx are fault.Permanent.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

// ContentType is the media type of a structured-mode CloudEvent in JSON.
const ContentType = "application/cloudevents+json; charset=utf-8"

// reserved are the headers the sender sets itself.
var reserved = map[string]bool{
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"content-type": true, "content-length": true, "host": true, "transfer-encoding": true,
}

// Config configures the sender.
type Config struct {
	// URL is the endpoint; required, http or https.
	URL string
	// Secrets sign every request, "whsec_" and a base64 key each; at least one. All are in
	// force at once: list the new one beside the old while receivers move over.
	Secrets []string
	// Headers are extra static headers (an API key, a tenant); default none. The Standard
	// Webhooks headers, Content-Type, Content-Length, Host and Transfer-Encoding are the
	// sender's own.
	Headers map[string]string
	// MaxBytes bounds the body; data.detail is cut to fit. Default 256 KiB, at least 4 KiB.
	MaxBytes int
	// Timeout bounds one request, answer included; default 10s.
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = 256 << 10
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports every problem at once. Secrets are named by position, never shown.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q must be an absolute http or https URL", c.URL))
	}
	if len(c.Secrets) == 0 {
		errs = append(errs, errors.New("secrets: at least one is required"))
	}
	for i, s := range c.Secrets {
		if _, err := stdwebhook.ParseSecret(s); err != nil {
			errs = append(errs, fmt.Errorf("secrets[%d]: %w", i, err))
		}
	}
	for name, value := range c.Headers {
		switch {
		case !validToken(name):
			errs = append(errs, fmt.Errorf("headers: %q is not a header name", name))
		case reserved[strings.ToLower(name)]:
			errs = append(errs, fmt.Errorf("headers: %s is set by the sender", name))
		case !validValue(value):
			errs = append(errs, fmt.Errorf("headers: the value of %s has a control character", name))
		}
	}
	if c.MaxBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("max bytes: %d is less than 4096", c.MaxBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Sender implements notify.Sender over a signed webhook. It is safe for concurrent use.
type Sender struct {
	cfg     Config
	secrets [][]byte
	client  *http.Client
}

var _ notify.Sender = (*Sender)(nil)

// New returns a sender; it refuses a bad config.
func New(cfg Config) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new webhook sender: %w", err)
	}
	s := &Sender{cfg: cfg, client: &http.Client{
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for _, sec := range cfg.Secrets {
		key, _ := stdwebhook.ParseSecret(sec)
		s.secrets = append(s.secrets, key)
	}
	return s, nil
}

// Send posts n as a signed CloudEvent whose webhook-id is n.Key.
func (s *Sender) Send(ctx context.Context, n notify.Notification) error {
	if n.Key == "" || !validValue(n.Key) {
		return fault.Permanent(fmt.Errorf("post webhook about %s: key %q cannot be a webhook-id", n.CIID, n.Key))
	}
	body, err := Encode(n, s.cfg.MaxBytes)
	if err != nil {
		return fault.Permanent(fmt.Errorf("post webhook about %s: %w", n.CIID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fault.Permanent(fmt.Errorf("post webhook: %w", err))
	}
	for name, value := range s.cfg.Headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", ContentType)
	if err := stdwebhook.SetHeaders(req.Header, s.secrets, n.Key, time.Now(), body); err != nil {
		return fault.Permanent(fmt.Errorf("post webhook: %w", err))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook about %s: %w", n.CIID, err)
	}
	defer resp.Body.Close()
	if err := answer(resp); err != nil {
		return fmt.Errorf("post webhook about %s: %w", n.CIID, err)
	}
	return nil
}

// answer classifies the receiver's answer.
func answer(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	text := cutBytes(strings.TrimSpace(strings.ToValidUTF8(string(raw), "\uFFFD")), 300)
	err := fmt.Errorf("webhook answered %s: %q", resp.Status, text)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		err = fmt.Errorf("webhook answered %s: %q (Retry-After %s)", resp.Status, text, ra)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests, c == http.StatusRequestTimeout, c >= 500:
		return err
	default:
		return fault.Permanent(err)
	}
}

// validToken reports whether s is an RFC 9110 token, as a header name must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f || c <= ' ' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validValue reports whether s may be a header value: no control character but tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
