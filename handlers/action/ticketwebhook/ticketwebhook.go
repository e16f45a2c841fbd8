// Package ticketwebhook opens, updates and closes driftwatch's ITSM tickets through a
// generic webhook, for ticket systems other than ServiceNow: a small receiver in front of
// the system translates the messages.
//
// The contract. Every message is an HTTP POST of a JSON Message to Config.URL with
// Content-Type application/json, an Idempotency-Key header and the Standard Webhooks headers
// webhook-id, webhook-timestamp and webhook-signature, signed with every configured secret
// (so that a receiver may rotate its secret: it verifies with the one it knows). A retry
// carries the same Idempotency-Key, webhook-id and payload, and a fresh timestamp and
// signature. The receiver must:
//
//   - verify the signature and the timestamp (stdwebhook.Verify does both) and answer 401
//     when they do not hold;
//   - deduplicate on Idempotency-Key: a message whose key it has seen must not act again;
//   - "open" (Idempotency-Key and correlation_id: the drift's correlation id; webhook-id:
//     the correlation id + ":open"): answer 201 and {"id": ..., "number": ..., "url": ...}
//     when it opened the ticket, 200 and the same body when it already had the ticket of
//     that key. id is required; number is what people quote (id when absent); url is
//     optional;
//   - "update" (key and webhook-id: the ticket's id, or else its number, + ":update:" and 16
//     hex digits of a hash of the note, severity and time): add the note, and raise the
//     severity when one is given; answer any 2xx;
//   - "close" (key and webhook-id: the ticket's id or number + ":close"): close the ticket
//     with code and notes; answer any 2xx, also when the ticket is closed already, and leave
//     a closed ticket as it is;
//   - answer 4xx for a message it cannot take (driftwatch does not retry it: 408 and 429
//     aside), and 429 or 5xx, with Retry-After if it likes, for a failure that passes.
//
// A correlation id or ticket reference must be printable ASCII (it goes into headers);
// anything else is refused before sending. Redirects are not followed. Errors are classified
// as the action stage's port asks: 4xx but 408 and 429, a 3xx, and a 2xx answer to "open"
// that breaks the contract are fault.Permanent; 408, 429, 5xx, network errors and timeouts
// are returned as they are, for a retry.
package ticketwebhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

// Config is where to send the messages and how to sign them.
type Config struct {
	// URL is the receiver's endpoint; required. Plain http is accepted for a loopback
	// address only.
	URL string
	// Secrets sign every message, each "whsec_<base64>"; at least one. Several are in force
	// while one is rotated.
	Secrets []string
	// Timeout bounds each request; default 10s.
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if err := checkURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if len(c.Secrets) == 0 {
		errs = append(errs, errors.New("secrets: at least one is required"))
	}
	for i, s := range c.Secrets {
		if _, err := stdwebhook.ParseSecret(s); err != nil {
			errs = append(errs, fmt.Errorf("secrets[%d]: %w", i, err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL without credentials or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if host := u.Hostname(); host == "localhost" || net.ParseIP(host).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: plain http is for loopback receivers only; use https", s)
	}
	return fmt.Errorf("%q: scheme must be https", s)
}

// Client implements action.Tickets over the webhook. It is safe for concurrent use.
type Client struct {
	cfg     Config
	secrets [][]byte
	http    *http.Client
}

var _ action.Tickets = (*Client)(nil)

// New returns a client of the receiver; it refuses a bad config. hc is the HTTP client to
// use; nil means a new one with Go's defaults. Redirects are never followed.
func New(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new ticket webhook: %w", err)
	}
	secrets := make([][]byte, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		secrets[i], _ = stdwebhook.ParseSecret(s)
	}
	c := &http.Client{}
	if hc != nil {
		c = new(http.Client)
		*c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, secrets: secrets, http: c}, nil
}
