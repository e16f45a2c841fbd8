package smtp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/handlers/notify/smtp"
	"github.com/driftwatch/driftwatch/internal/testsupport/smtpfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

var at = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sample(ev notify.Event) notify.Notification {
	n := notify.Notification{
		Key: "7f3a/" + string(ev), DriftID: "7f3a", Event: ev,
		CIID: "web-01", CIType: "vm", Field: "/power_state",
		Category: drift.CategoryState, Severity: drift.SeverityHigh,
		Summary: `web-01 /power_state: desired "running", actual "stopped"`,
		Desired: json.RawMessage(`"running"`), Actual: json.RawMessage(`"stopped"`),
		Detail:   "--- desired\n+++ actual\n@@ -1 +1 @@\n-running\n+stopped\n",
		PolicyID: "vm-power", Ticket: "INC0012345",
		URL: "https://driftwatch.example/drifts/7f3a", At: at,
	}
	if ev == notify.EventAcknowledged {
		n.By = "alice"
	}
	return n
}

func newSender(t *testing.T, s *smtpfake.Server, edit func(*smtp.Config)) *smtp.Sender {
	t.Helper()
	cfg := smtp.Config{
		Addr: s.Addr(), From: "Driftwatch <drift@example.com>",
		To: []string{"ops@example.com", "Oncall Team <oncall@example.com>"},
	}
	if edit != nil {
		edit(&cfg)
	}
	snd, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// parse reads one delivered message the way a mail reader would.
func parse(t *testing.T, m smtpfake.Message) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("delivered mail does not parse: %v\n%s", err, m.Data)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	return msg, strings.ReplaceAll(string(body), "\r\n", "\n")
}

func decodeSubject(t *testing.T, h mail.Header) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatalf("subject %q: %v", h.Get("Subject"), err)
	}
	return s
}

func headerKeys(h mail.Header) []string {
	var keys []string
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var wantKeys = []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}

const facts = `Severity: high
Category: state
Planned:  no
Desired:  "running"
Actual:   "stopped"
Policy:   vm-power
Ticket:   INC0012345
`

const detail = `
Detail:
--- desired
+++ actual
@@ -1 +1 @@
-running
+stopped
`

func TestSendDeliversTheExactMessageForEachEvent(t *testing.T) {
	t.Parallel()
	head := "web-01 /power_state: desired \"running\", actual \"stopped\"\n\n"
	ci := "CI:       web-01 (vm)\nField:    /power_state\n"
	link := "Link:     https://driftwatch.example/drifts/7f3a\n"
	tests := []struct {
		name    string
		event   notify.Event
		subject string
		body    string
	}{
		{"an_opened_drift_is_mailed", notify.EventOpened,
			"[driftwatch] high opened: web-01 /power_state",
			head + "Event:    opened\n" + ci + facts + link + detail},
		{"an_escalated_drift_is_mailed", notify.EventEscalated,
			"[driftwatch] high escalated: web-01 /power_state",
			head + "Event:    escalated\n" + ci + facts + link + detail},
		{"an_acknowledged_drift_names_who", notify.EventAcknowledged,
			"[driftwatch] high acknowledged: web-01 /power_state",
			head + "Event:    acknowledged\n" + ci + facts + "By:       alice\n" + link + detail},
		{"a_resolved_drift_is_mailed", notify.EventResolved,
			"[driftwatch] high resolved: web-01 /power_state",
			head + "Event:    resolved\n" + ci + facts + link + detail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtpfake.Start(t, smtpfake.Config{})
			n := sample(tt.event)
			if err := newSender(t, srv, nil).Send(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			if got[0].From != "drift@example.com" || !slices.Equal(got[0].To, []string{"ops@example.com", "oncall@example.com"}) {
				t.Errorf("envelope from %q to %v", got[0].From, got[0].To)
			}
			msg, body := parse(t, got[0])
			if keys := headerKeys(msg.Header); !slices.Equal(keys, wantKeys) {
				t.Errorf("headers %v, want %v", keys, wantKeys)
			}
			if s := decodeSubject(t, msg.Header); s != tt.subject {
				t.Errorf("subject %q, want %q", s, tt.subject)
			}
			from, err := msg.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "Driftwatch" || from[0].Address != "drift@example.com" {
				t.Errorf("From %q: %v %v", msg.Header.Get("From"), from, err)
			}
			to, err := msg.Header.AddressList("To")
			if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Name != "Oncall Team" || to[1].Address != "oncall@example.com" {
				t.Errorf("To %q: %v %v", msg.Header.Get("To"), to, err)
			}
			if d, err := msg.Header.Date(); err != nil || !d.Equal(at) {
				t.Errorf("Date %q: %v, want %s", msg.Header.Get("Date"), err, at)
			}
			if id := msg.Header.Get("Message-Id"); id != smtp.MessageID(n.Key) || !strings.HasSuffix(id, "@driftwatch>") {
				t.Errorf("Message-ID %q, want %q", id, smtp.MessageID(n.Key))
			}
			for k, want := range map[string]string{
				"Mime-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "Auto-Submitted": "auto-generated",
			} {
				if v := msg.Header.Get(k); v != want {
					t.Errorf("%s %q, want %q", k, v, want)
				}
			}
			if body != tt.body {
				t.Errorf("body\n%s\nwant\n%s", body, tt.body)
			}
		})
	}
}

func TestSendIsTheSameMessageOnEveryResend(t *testing.T) {
	t.Parallel()
	srv := smtpfake.Start(t, smtpfake.Config{})
	snd := newSender(t, srv, nil)
	n := sample(notify.EventOpened)
	for range 2 {
		if err := snd.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	other := n
	other.Key = "7f3a/other"
	if err := snd.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 3 {
		t.Fatalf("%d messages, want 3", len(got))
	}
	if !bytes.Equal(got[0].Data, got[1].Data) {
		t.Errorf("a resend differs:\n%s\n---\n%s", got[0].Data, got[1].Data)
	}
	m0, _ := parse(t, got[0])
	m2, _ := parse(t, got[2])
	if m0.Header.Get("Message-Id") == m2.Header.Get("Message-Id") {
		t.Errorf("two keys share Message-ID %s", m0.Header.Get("Message-Id"))
	}
}

func TestSendNeverLetsNotificationTextAddAHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*notify.Notification)
	}{
		{"a_crlf_bcc_in_the_ci_id", func(n *notify.Notification) { n.CIID = "web-01\r\nBcc: x@y" }},
		{"a_bare_lf_header_in_the_field", func(n *notify.Notification) { n.Field = "/a\nBcc: x@y" }},
		{"a_crlf_crlf_body_break_in_the_ci_id", func(n *notify.Notification) { n.CIID = "web-01\r\n\r\nBcc: x@y" }},
		{"a_header_in_the_severity_and_summary", func(n *notify.Notification) {
			n.Severity = "high\r\nBcc: x@y"
			n.Summary = "s\r\nBcc: x@y"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtpfake.Start(t, smtpfake.Config{})
			n := sample(notify.EventOpened)
			tt.edit(&n)
			if err := newSender(t, srv, nil).Send(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			if !slices.Equal(got[0].To, []string{"ops@example.com", "oncall@example.com"}) {
				t.Errorf("envelope recipients %v", got[0].To)
			}
			msg, body := parse(t, got[0])
			if keys := headerKeys(msg.Header); !slices.Equal(keys, wantKeys) {
				t.Errorf("headers %v, want %v", keys, wantKeys)
			}
			rawHead, _, _ := bytes.Cut(got[0].Data, []byte("\r\n\r\n"))
			for _, line := range strings.Split(string(rawHead), "\r\n") {
				if strings.HasPrefix(strings.ToLower(line), "bcc:") {
					t.Errorf("raw header line %q", line)
				}
			}
			if s := decodeSubject(t, msg.Header); !strings.Contains(s, "Bcc: x@y") && !strings.Contains(body, "Bcc: x@y") {
				t.Errorf("the text vanished instead of staying inline: subject %q", s)
			}
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "Bcc:") {
					t.Errorf("body line %q starts with the injected text", line)
				}
			}
		})
	}
}

func TestSendCutsAnOversizedDetailOnARuneBoundary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int
		detail string
	}{
		{"a_multibyte_detail_over_the_default_limit", 0, strings.Repeat("é✓🙂x", 20000)},
		{"a_four_byte_detail_over_a_small_limit", 2048, strings.Repeat("🙂", 5000)},
		{"an_invalid_utf8_detail_comes_out_valid", 2048, strings.Repeat("ab\xff\xfe", 3000)},
		{"dot_lines_survive_the_transfer", 0, ".\n.hidden\n..\n" + strings.Repeat("x", 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtpfake.Start(t, smtpfake.Config{})
			n := sample(notify.EventOpened)
			n.Detail = tt.detail
			snd := newSender(t, srv, func(c *smtp.Config) { c.MaxBodyBytes = tt.max })
			if err := snd.Send(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			_, body := parse(t, got[0])
			limit := tt.max
			if limit == 0 {
				limit = 64 << 10
			}
			// The wire has CRLF where the text has LF.
			if len(body) > limit {
				t.Errorf("body of %d bytes, limit %d", len(body), limit)
			}
			if !utf8.ValidString(body) {
				t.Error("body is not valid UTF-8")
			}
			want := strings.ToValidUTF8(tt.detail, "\uFFFD")
			if len(want) > limit {
				if !strings.Contains(body, "[detail cut: ") {
					t.Error("cut without a note")
				}
				if len(body) < limit-200 {
					t.Errorf("body of %d bytes wastes the %d allowed", len(body), limit)
				}
				_, shown, _ := strings.Cut(body, "\nDetail:\n")
				shown, _, _ = strings.Cut(shown, "\n[detail cut: ")
				if !strings.HasPrefix(want, shown) {
					t.Error("the detail shown is not a prefix of the detail")
				}
			} else if !strings.Contains(body, "\nDetail:\n"+want) {
				t.Errorf("body lost the detail %q:\n%s", want, body)
			}
			// RFC 5322 §2.1.1 for the header, RFC 2045 §6.7 for quoted-printable.
			rawHead, rawBody, _ := bytes.Cut(got[0].Data, []byte("\r\n\r\n"))
			for part, limit := range map[string]int{string(rawHead): 998, string(rawBody): 76} {
				sc := bufio.NewScanner(strings.NewReader(part))
				for sc.Scan() {
					if len(sc.Text()) > limit {
						t.Fatalf("wire line of %d characters, limit %d: %q", len(sc.Text()), limit, sc.Text())
					}
				}
			}
		})
	}
}

func TestSendEncodesANonASCIISubject(t *testing.T) {
	t.Parallel()
	srv := smtpfake.Start(t, smtpfake.Config{})
	n := sample(notify.EventOpened)
	n.CIID = "müller-Ω-" + strings.Repeat("ß", 150)
	if err := newSender(t, srv, nil).Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	msg, _ := parse(t, got[0])
	s := decodeSubject(t, msg.Header)
	if s != smtp.Subject(n) || !strings.HasPrefix(s, "[driftwatch] high opened: müller-Ω-ßß") {
		t.Errorf("subject %q, want %q", s, smtp.Subject(n))
	}
	if c := utf8.RuneCountInString(s); c > 200 {
		t.Errorf("subject of %d characters", c)
	}
}

func TestSendUsesStartTLSAndAuthPlain(t *testing.T) {
	t.Parallel()
	srv := smtpfake.Start(t, smtpfake.Config{STARTTLS: true, RequireAuth: true, Users: map[string]string{"drift": "s3cret"}})
	snd := newSender(t, srv, func(c *smtp.Config) {
		c.RequireTLS = true
		c.TLSConfig = &tls.Config{RootCAs: srv.RootCAs()}
		c.Username, c.Password = "drift", "s3cret"
	})
	if err := snd.Send(context.Background(), sample(notify.EventOpened)); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 || !got[0].TLS || got[0].AuthUser != "drift" {
		t.Fatalf("messages %+v, want one under TLS by drift", got)
	}
	want := []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}
	if c := srv.Commands(); !slices.Equal(c, want) {
		t.Errorf("conversation %v, want %v", c, want)
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		server    smtpfake.Config
		fail      smtpfake.Stage
		code      int
		edit      func(*smtp.Config, *smtpfake.Server)
		permanent bool
	}{
		{name: "a_4xx_to_rcpt_is_retryable", fail: smtpfake.StageRcpt, code: 450},
		{name: "a_5xx_to_rcpt_is_permanent", fail: smtpfake.StageRcpt, code: 550, permanent: true},
		{name: "a_4xx_to_data_is_retryable", fail: smtpfake.StageData, code: 451},
		{name: "a_5xx_to_data_is_permanent", fail: smtpfake.StageData, code: 554, permanent: true},
		{name: "a_4xx_to_mail_is_retryable", fail: smtpfake.StageMail, code: 421},
		{name: "a_wrong_password_is_permanent",
			server: smtpfake.Config{Users: map[string]string{"drift": "right"}},
			edit:   func(c *smtp.Config, _ *smtpfake.Server) { c.Username, c.Password = "drift", "wrong" }, permanent: true},
		{name: "missing_starttls_under_require_tls_is_permanent",
			edit: func(c *smtp.Config, _ *smtpfake.Server) { c.RequireTLS = true }, permanent: true},
		{name: "an_untrusted_certificate_is_permanent", server: smtpfake.Config{STARTTLS: true}, permanent: true},
		{name: "a_message_over_the_server_size_is_permanent", server: smtpfake.Config{MaxSize: 4096}, permanent: true},
		{name: "a_refused_connection_is_retryable",
			edit: func(c *smtp.Config, _ *smtpfake.Server) { c.Addr = closedAddr(t) }},
		{name: "a_server_that_never_greets_times_out_retryable",
			edit: func(c *smtp.Config, _ *smtpfake.Server) { c.Addr, c.Timeout = silentAddr(t), 200*time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtpfake.Start(t, tt.server)
			if tt.code != 0 {
				srv.Fail(tt.fail, tt.code, fmt.Sprintf("%d.0.0 told to", tt.code/100))
			}
			snd := newSender(t, srv, func(c *smtp.Config) {
				if tt.edit != nil {
					tt.edit(c, srv)
				}
			})
			n := sample(notify.EventOpened)
			if tt.server.MaxSize != 0 {
				n.Detail = strings.Repeat("x", 8000)
			}
			err := snd.Send(context.Background(), n)
			if err == nil {
				t.Fatal("no error")
			}
			if fault.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent %v, want %v: %v", fault.IsPermanent(err), tt.permanent, err)
			}
			if len(srv.Messages()) != 0 {
				t.Error("a message was delivered")
			}
		})
	}
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr accepts connections and says nothing.
func silentAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

func TestSendRefusesANotificationWithoutKey(t *testing.T) {
	t.Parallel()
	srv := smtpfake.Start(t, smtpfake.Config{})
	n := sample(notify.EventOpened)
	n.Key = ""
	if err := newSender(t, srv, nil).Send(context.Background(), n); !fault.IsPermanent(err) {
		t.Errorf("error %v, want permanent", err)
	}
}

func TestNewReportsEveryConfigProblem(t *testing.T) {
	t.Parallel()
	_, err := smtp.New(smtp.Config{Addr: "nohost", From: "not an address", To: []string{"ok@example.com", "bad"}, Username: "u", MaxBodyBytes: 10})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"addr", "from", "to[1]", "username and password", "max body bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Errorf("error %v is not joined", err)
	}
}
