package smtpfake_test

import (
	"crypto/tls"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/smtpfake"
)

// dial opens a raw protocol session and reads the greeting.
func dial(t *testing.T, s *smtpfake.Server) *textproto.Conn {
	t.Helper()
	c, err := textproto.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	expect(t, c, 220)
	return c
}

func cmd(t *testing.T, c *textproto.Conn, want int, format string, args ...any) string {
	t.Helper()
	if err := c.PrintfLine(format, args...); err != nil {
		t.Fatal(err)
	}
	return expect(t, c, want)
}

func expect(t *testing.T, c *textproto.Conn, want int) string {
	t.Helper()
	code, msg, err := c.ReadResponse(0)
	if code != want {
		t.Fatalf("reply %d %q (%v), want %d", code, msg, err, want)
	}
	return msg
}

func TestProtocol(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, s *smtpfake.Server, c *textproto.Conn)
	}{
		{"ehlo_lists_size_starttls_and_auth_plain", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			msg := cmd(t, c, 250, "EHLO client.test")
			for _, ext := range []string{"SIZE 10485760", "STARTTLS", "AUTH PLAIN"} {
				if !strings.Contains(msg, ext) {
					t.Errorf("EHLO reply %q lacks %s", msg, ext)
				}
			}
			if strings.Contains(msg, "8BITMIME") {
				t.Errorf("EHLO reply %q offers 8BITMIME, which the fake does not accept", msg)
			}
		}},
		{"dot_stuffing_is_undone_and_the_final_dot_ends_the_data", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 250, "RCPT TO:<b@example.com>")
			cmd(t, c, 354, "DATA")
			cmd(t, c, 250, "Subject: x\r\n\r\n..leading dot\r\n...\r\nend\r\n.")
			got := s.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			if want := "Subject: x\r\n\r\n.leading dot\r\n..\r\nend\r\n"; string(got[0].Data) != want {
				t.Errorf("data %q, want %q", got[0].Data, want)
			}
		}},
		{"rset_ends_the_transaction_and_noop_answers", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 250, "RSET")
			cmd(t, c, 503, "RCPT TO:<b@example.com>")
			cmd(t, c, 250, "NOOP")
			cmd(t, c, 221, "QUIT")
		}},
		{"mail_before_ehlo_is_refused", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 503, "MAIL FROM:<a@example.com>")
		}},
		{"data_without_recipients_is_refused", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 554, "DATA")
		}},
		{"eight_bit_data_is_refused", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 250, "RCPT TO:<b@example.com>")
			cmd(t, c, 354, "DATA")
			cmd(t, c, 554, "Subject: café\r\n\r\nbody\r\n.")
			if n := len(s.Messages()); n != 0 {
				t.Errorf("%d messages recorded, want none", n)
			}
		}},
		{"a_bare_lf_in_the_data_is_refused", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 250, "RCPT TO:<b@example.com>")
			cmd(t, c, 354, "DATA")
			if _, err := c.W.WriteString("Subject: x\r\n\r\nline\nsmuggled\r\n.\r\n"); err != nil {
				t.Fatal(err)
			}
			_ = c.W.Flush()
			expect(t, c, 554)
		}},
		{"a_line_over_1000_octets_is_refused", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 250, "RCPT TO:<b@example.com>")
			cmd(t, c, 354, "DATA")
			cmd(t, c, 554, "Subject: x\r\n\r\n%s\r\n.", strings.Repeat("a", 999))
		}},
		{"a_plain_response_of_a_wrong_password_gets_535", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 334, "AUTH PLAIN")
			cmd(t, c, 535, "AHVzZXIAd3Jvbmc=") // "\x00user\x00wrong"
		}},
		{"an_injected_rcpt_reply_is_answered", func(t *testing.T, s *smtpfake.Server, c *textproto.Conn) {
			s.Fail(smtpfake.StageRcpt, 450, "4.2.1 Mailbox busy")
			cmd(t, c, 250, "EHLO client.test")
			cmd(t, c, 250, "MAIL FROM:<a@example.com>")
			cmd(t, c, 450, "RCPT TO:<b@example.com>")
			s.Fail(smtpfake.StageRcpt, 0, "")
			cmd(t, c, 250, "RCPT TO:<b@example.com>")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := smtpfake.Start(t, smtpfake.Config{STARTTLS: true, Users: map[string]string{"user": "secret"}})
			tt.run(t, s, dial(t, s))
		})
	}
}

func TestNetSMTPClientDeliversOverStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	s := smtpfake.Start(t, smtpfake.Config{STARTTLS: true, RequireAuth: true, Users: map[string]string{"user": "secret"}})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{RootCAs: s.RootCAs(), ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS still offered under TLS")
	}
	if err := c.Auth(smtp.PlainAuth("", "user", "secret", "127.0.0.1")); err != nil {
		t.Fatalf("auth: %v", err)
	}
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: hi\n\n.dot\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.AuthUser != "user" || m.From != "a@example.com" || !slices.Equal(m.To, []string{"b@example.com"}) {
		t.Errorf("message envelope %+v", m)
	}
	if string(m.Data) != "Subject: hi\r\n\r\n.dot\r\n" {
		t.Errorf("data %q", m.Data)
	}
	want := []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}
	if got := s.Commands(); !slices.Equal(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
}
