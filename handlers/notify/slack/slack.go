// Package slack posts drift notifications to a Slack incoming webhook: a JSON message with a
// fallback text and Block Kit blocks (a header, the summary, the facts as section fields,
// the detail as a code block, a link).
//
// Limits applied, from Slack's documentation (api.slack.com/reference/block-kit/blocks,
// api.slack.com/methods/chat.postMessage, both read 2026): message text at most 40,000
// characters, and kept to 3,000 here since it is only the notification fallback; at most 50
// blocks; a header's plain_text at most 150 characters; a section's text at most 3,000; at
// most 10 section fields of at most 2,000 each. Characters are counted as Unicode code points
// and text is cut between them, never inside a UTF-8 sequence or an escape. Text in mrkdwn
// has &, < and > escaped as &amp;, &lt; and &gt; (api.slack.com/reference/surfaces/formatting
// #escaping), so a CI id can never form a link or a mention.
//
// Answers (api.slack.com/messaging/webhooks#handling_errors): 200 "ok" is success; 400
// (invalid_payload, invalid_blocks, no_text...), 403 (action_prohibited, invalid_token), 404
// (channel_not_found, no_service), 410 (channel_is_archived) and any other 4xx are
// fault.Permanent; 429 (with its Retry-After in the error), 408, 5xx, timeouts and network
// failures are returned as they are.
//
// Idempotency: incoming webhooks take no idempotency key, so the sender remembers the keys
// it delivered lately (Config.RememberKeys) and skips a redelivery of one of them; after a
// restart, or when an answer is lost, Slack may show a message twice.
package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Config configures the sender.
type Config struct {
	// WebhookURL is the incoming webhook's URL (https://hooks.slack.com/services/...);
	// required, http or https.
	WebhookURL string
	// Timeout bounds one request, answer included; default 10s.
	Timeout time.Duration
	// RememberKeys is how many delivered notification keys are remembered to skip their
	// redelivery; default 4096, negative remembers none.
	RememberKeys int
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RememberKeys == 0 {
		c.RememberKeys = 4096
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("webhook url: %q must be an absolute http or https URL", redact(c.WebhookURL)))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Sender implements notify.Sender over a Slack incoming webhook. It is safe for concurrent
// use.
type Sender struct {
	cfg    Config
	client *http.Client
	sent   *memo
}

var _ notify.Sender = (*Sender)(nil)

// New returns a sender; it refuses a bad config.
func New(cfg Config) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new slack sender: %w", err)
	}
	return &Sender{
		cfg: cfg,
		client: &http.Client{
			Timeout: cfg.Timeout,
			// A webhook URL that redirects is misconfigured; following it would post elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		sent: newMemo(cfg.RememberKeys),
	}, nil
}

// Send posts n, unless a notification with its key was delivered lately.
func (s *Sender) Send(ctx context.Context, n notify.Notification) error {
	if n.Key == "" {
		return fault.Permanent(errors.New("post to slack: notification has no key"))
	}
	if s.sent.has(n.Key) {
		return nil
	}
	body, err := render(n)
	if err != nil {
		return fault.Permanent(fmt.Errorf("post to slack about %s: %w", n.CIID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fault.Permanent(fmt.Errorf("post to slack: %w", err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL holds the webhook's secret; the error must not.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to slack about %s: %w", n.CIID, err)
	}
	defer resp.Body.Close()
	if err := answer(resp); err != nil {
		return fmt.Errorf("post to slack about %s: %w", n.CIID, err)
	}
	s.sent.add(n.Key)
	return nil
}

// answer classifies Slack's answer.
func answer(resp *http.Response) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "\uFFFD"))
	if len(text) > 200 {
		text = cutRunes(text, 200)
	}
	err := fmt.Errorf("slack answered %s: %q", resp.Status, text)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		err = fmt.Errorf("slack answered %s: %q (Retry-After %s)", resp.Status, text, ra)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests, c == http.StatusRequestTimeout, c >= 500:
		return err
	default:
		return fault.Permanent(err)
	}
}

// redact keeps a webhook URL's host and drops its secret path.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// memo is a bounded set of keys, the oldest forgotten first.
type memo struct {
	mu    sync.Mutex
	max   int
	keys  map[string]struct{}
	order []string
}

func newMemo(max int) *memo { return &memo{max: max, keys: map[string]struct{}{}} }

func (m *memo) has(k string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.keys[k]
	return ok
}

func (m *memo) add(k string) {
	if m.max <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k]; ok {
		return
	}
	if len(m.order) >= m.max {
		delete(m.keys, m.order[0])
		m.order = m.order[1:]
	}
	m.keys[k] = struct{}{}
	m.order = append(m.order, k)
}

// cutRunes returns s cut to at most n runes, the last one an ellipsis when it was cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
