// Package smtp sends drift notifications as e-mail over SMTP (RFC 5321) with net/smtp:
// STARTTLS when the server offers it (or always, with Config.RequireTLS), AUTH PLAIN when a
// user name is configured, one plain-text message per notification.
//
// The message is RFC 5322 with MIME (RFC 2045): header values made of notification text are
// stripped of control characters and RFC 2047-encoded, so that a CR or LF in a CI id can never
// start a header; the body is UTF-8 in quoted-printable, so that every line stays within
// RFC 2045 §6.7's 76 characters (and so within RFC 5321 §4.5.3.1.6's 1000 octets) and the data
// is 7-bit. Limits applied: the decoded body is cut to Config.MaxBodyBytes (the detail first),
// on a UTF-8 boundary; the Subject's text to 200 characters and folded to 78-character lines
// (RFC 5322 §2.1.1); at most 100 recipients (RFC 5321 §4.5.3.1.8, the least a server must
// accept); a message larger than the server's SIZE (RFC 1870) is refused before it is sent.
//
// Idempotency: the Message-ID derives from Notification.Key alone and the Date from
// Notification.At, so a resend is byte for byte the same message, which receivers and
// archives deduplicate.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// MaxRecipients is the most recipients one message may have: RFC 5321 §4.5.3.1.8 obliges a
// server to accept at least 100.
const MaxRecipients = 100

// Config configures the sender.
type Config struct {
	// Addr is the server's host:port, for example "mail.example.com:587"; required.
	Addr string
	// LocalName is the name given in EHLO; default "localhost".
	LocalName string
	// RequireTLS refuses to deliver over a server that does not offer STARTTLS; default
	// false: STARTTLS is used whenever the server offers it.
	RequireTLS bool
	// TLSConfig verifies the server in STARTTLS; default system roots, ServerName the host of
	// Addr.
	TLSConfig *tls.Config
	// Username and Password are the AUTH PLAIN credentials; default none (no AUTH). They are
	// only sent over TLS or to a server on the local host (as net/smtp insists).
	Username string
	Password string
	// From is the sender address (RFC 5322 mailbox, "Driftwatch <drift@example.com>");
	// required.
	From string
	// To lists the recipient addresses; at least one, at most MaxRecipients.
	To []string
	// MaxBodyBytes bounds the decoded body; the detail is cut first. Default 64 KiB, at
	// least 1 KiB.
	MaxBodyBytes int
	// Timeout bounds one delivery, from dialling to the end of DATA; default 10s.
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.LocalName == "" {
		c.LocalName = "localhost"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if host, port, err := net.SplitHostPort(c.Addr); err != nil || host == "" || port == "" {
		errs = append(errs, fmt.Errorf("addr: %q must be host:port", c.Addr))
	}
	if strings.ContainsAny(c.LocalName, " \t\r\n") {
		errs = append(errs, fmt.Errorf("local name: %q must be one word", c.LocalName))
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("from: %q: %w", c.From, err))
	}
	if len(c.To) == 0 || len(c.To) > MaxRecipients {
		errs = append(errs, fmt.Errorf("to: %d recipients, need 1 to %d", len(c.To), MaxRecipients))
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			errs = append(errs, fmt.Errorf("to[%d]: %q: %w", i, to, err))
		}
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("username and password: set both or neither"))
	}
	if c.MaxBodyBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max body bytes: %d is less than 1024", c.MaxBodyBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// Sender implements notify.Sender over SMTP. It is safe for concurrent use: every Send opens
// its own connection.
type Sender struct {
	cfg  Config
	host string
	from *mail.Address
	to   []*mail.Address
}

var _ notify.Sender = (*Sender)(nil)

// New returns a sender; it refuses a bad config.
func New(cfg Config) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new smtp sender: %w", err)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	from, _ := mail.ParseAddress(cfg.From)
	s := &Sender{cfg: cfg, host: host, from: from}
	for _, to := range cfg.To {
		a, _ := mail.ParseAddress(to)
		s.to = append(s.to, a)
	}
	return s, nil
}

// Send delivers n as one message to every recipient. A 4xx reply, a network failure or a
// timeout is returned as is; a 5xx reply, a server that lacks STARTTLS under RequireTLS or
// AUTH when credentials are set, an untrusted certificate or a message over the server's
// SIZE is fault.Permanent. A recipient refused is the whole message refused: nothing is
// sent.
func (s *Sender) Send(ctx context.Context, n notify.Notification) error {
	if n.Key == "" {
		return fault.Permanent(errors.New("send e-mail: notification has no key"))
	}
	msg := s.compose(n)
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
	}
	if err := s.deliver(ctx, msg); err != nil {
		return fmt.Errorf("send e-mail about %s %s: %w", sanitize(n.CIID), n.Event, classify(err))
	}
	return nil
}

func (s *Sender) deliver(ctx context.Context, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", s.cfg.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled context unblocks whatever read or write the conversation is in.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	tlsOn := false
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
		tlsOn = true
	} else if s.cfg.RequireTLS {
		return fault.Permanent(errors.New("server does not offer STARTTLS and TLS is required"))
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fault.Permanent(errors.New("server does not offer AUTH and credentials are set"))
		}
		if !tlsOn && !isLocal(s.host) {
			return fault.Permanent(errors.New("refusing AUTH PLAIN without TLS to a remote server"))
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if ok, param := c.Extension("SIZE"); ok {
		if max, err := strconv.Atoi(param); err == nil && max > 0 && len(msg) > max {
			return fault.Permanent(fmt.Errorf("message of %d bytes exceeds the server's SIZE %d", len(msg), max))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, to := range s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("rcpt to %s: %w", to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The server took the message with its reply to DATA; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *Sender) tlsConfig() *tls.Config {
	var tc *tls.Config
	if s.cfg.TLSConfig != nil {
		tc = s.cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc
}

// classify marks what retrying cannot fix: a 5xx reply (RFC 5321 §4.2.1: permanent negative
// completion) and a certificate that does not verify. 4xx replies and network failures stay
// retryable.
func classify(err error) error {
	if fault.IsPermanent(err) {
		return err
	}
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return fault.Permanent(err)
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fault.Permanent(err)
	}
	return err
}

// isLocal is net/smtp's own test for a server that may get PLAIN credentials without TLS.
func isLocal(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
