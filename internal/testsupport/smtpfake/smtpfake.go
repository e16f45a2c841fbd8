// Package smtpfake is a real SMTP server (RFC 5321) on 127.0.0.1 for tests of mail senders:
// a 220 greeting, EHLO with its extensions (SIZE, STARTTLS with a self-signed certificate
// when asked, AUTH PLAIN when users are set, ENHANCEDSTATUSCODES), HELO, AUTH PLAIN
// (RFC 4954, with or without an initial response), MAIL FROM, RCPT TO, DATA with
// dot-stuffing undone, RSET, NOOP, VRFY and QUIT. It records every message it accepts:
// envelope and raw data.
//
// It is stricter than most servers, to catch a sender's encoding mistakes: it does not offer
// 8BITMIME, so data must be 7-bit; lines must end in CRLF with no bare CR or LF (the
// smuggling rules of RFC 5321 §2.3.8) and be at most 1000 octets with their CRLF
// (§4.5.3.1.6). It can be told to answer a given reply to MAIL, RCPT or DATA, so that tests
// can check how a sender classifies 4xx (transient) and 5xx (permanent) replies.
package smtpfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Config tunes the server. The zero value is a plain server without TLS or AUTH.
type Config struct {
	// Users are the credentials AUTH PLAIN accepts, user name to password; AUTH PLAIN is
	// offered when there is one. Default none.
	Users map[string]string
	// RequireAuth answers 530 to MAIL before a successful AUTH; default false.
	RequireAuth bool
	// STARTTLS offers STARTTLS, with a self-signed certificate for 127.0.0.1 and localhost
	// (RootCAs trusts it); default false.
	STARTTLS bool
	// MaxSize is the SIZE extension's limit in bytes: larger data gets 552; default 10 MiB.
	MaxSize int
	// IdleTimeout closes a connection silent for this long; default 30s.
	IdleTimeout time.Duration
}

// Stage is a command whose reply a test may dictate with Fail.
type Stage string

// Stages a reply may be dictated for; StageData is the reply after the data's final dot.
const (
	StageMail Stage = "MAIL"
	StageRcpt Stage = "RCPT"
	StageData Stage = "DATA"
)

// Message is one message the server accepted.
type Message struct {
	// Helo is the name the client gave in EHLO or HELO.
	Helo string
	// From is the reverse-path of MAIL FROM, without its angle brackets.
	From string
	// To are the forward-paths of the accepted RCPT TO commands, in order.
	To []string
	// Data is the message as the client sent it, dot-stuffing undone, CRLF line ends, without
	// the final dot line.
	Data []byte
	// TLS reports whether the session was under STARTTLS.
	TLS bool
	// AuthUser is the user that authenticated, "" for none.
	AuthUser string
}

type reply struct {
	code int
	text string
}

// Server is a running fake SMTP server. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	ln      net.Listener
	tlsConf *tls.Config
	roots   *x509.CertPool

	mu       sync.Mutex
	messages []Message
	commands []string
	fails    map[Stage]reply
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Start starts a server on 127.0.0.1 on a free port; it is closed when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("start smtp fake: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server on 127.0.0.1 on a free port; Close stops it.
func New(cfg Config) (*Server, error) {
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 10 << 20
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, fails: map[Stage]reply{}, conns: map[net.Conn]struct{}{}}
	if cfg.STARTTLS {
		cert, roots, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.roots = roots
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// RootCAs trusts the server's certificate (nil without STARTTLS).
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Fail makes the server answer code and text to every later command of stage (for
// StageData: to the end of the data) instead of accepting it; code 0 accepts again.
func (s *Server) Fail(stage Stage, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.fails, stage)
		return
	}
	s.fails[stage] = reply{code, text}
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Commands returns the verbs of every command received so far, upper-cased, in order,
// across all sessions ("EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", ...).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Close stops accepting, closes open sessions and waits for them to end.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			newSession(s, c).serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) failure(stage Stage) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.fails[stage]
	return r, ok
}

func (s *Server) record(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, verb)
}

func (s *Server) deliver(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "smtpfake"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots, nil
}
