package smtpfake

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Line limits of RFC 5321 §4.5.3.1.4 and §4.5.3.1.6, without the CRLF.
const (
	maxCommandLine = 510
	maxTextLine    = 998
	maxRecipients  = 100
)

// session is one client connection.
type session struct {
	srv  *Server
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer

	helo     string
	tls      bool
	authUser string
	inTx     bool
	from     string
	to       []string
}

func newSession(s *Server, c net.Conn) *session {
	return &session{srv: s, conn: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
}

func (ss *session) serve() {
	defer ss.conn.Close()
	ss.reply(220, "127.0.0.1 ESMTP smtpfake")
	for {
		_ = ss.conn.SetDeadline(time.Now().Add(ss.srv.cfg.IdleTimeout))
		line, bad, err := ss.readLine(maxCommandLine)
		if err != nil {
			return
		}
		if bad != "" {
			ss.reply(500, "5.5.2 Syntax error: "+bad)
			continue
		}
		verb, arg, _ := strings.Cut(string(line), " ")
		verb = strings.ToUpper(verb)
		ss.srv.record(verb)
		switch verb {
		case "EHLO", "HELO":
			ss.hello(verb, arg)
		case "STARTTLS":
			if !ss.startTLS(arg) {
				return
			}
		case "AUTH":
			if !ss.auth(arg) {
				return
			}
		case "MAIL":
			ss.mail(arg)
		case "RCPT":
			ss.rcpt(arg)
		case "DATA":
			if !ss.data(arg) {
				return
			}
		case "RSET":
			ss.resetTx()
			ss.reply(250, "2.0.0 Ok")
		case "NOOP":
			ss.reply(250, "2.0.0 Ok")
		case "VRFY":
			ss.reply(252, "2.5.0 Cannot VRFY user, but will accept message and attempt delivery")
		case "QUIT":
			ss.reply(221, "2.0.0 Bye")
			return
		default:
			ss.reply(500, "5.5.2 Syntax error, command unrecognized")
		}
	}
}

// reply writes a reply of one or more lines (RFC 5321 §4.2: "250-" on all but the last).
func (ss *session) reply(code int, lines ...string) {
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l)
	}
	_ = ss.w.Flush()
}

// readLine reads one line; bad names what breaks the rules (a bare CR or LF, more than max
// octets before the CRLF), and the line is then to be refused.
func (ss *session) readLine(max int) (line []byte, bad string, err error) {
	var buf []byte
	long := false
	for {
		chunk, err := ss.r.ReadSlice('\n')
		if len(buf)+len(chunk) <= max+2 {
			buf = append(buf, chunk...)
		} else {
			long = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		break
	}
	switch {
	case long:
		return nil, "line too long", nil
	case !bytes.HasSuffix(buf, []byte("\r\n")):
		return nil, "bare LF", nil
	}
	buf = buf[:len(buf)-2]
	switch {
	case bytes.IndexByte(buf, '\r') >= 0:
		return nil, "bare CR", nil
	case len(buf) > max:
		return nil, "line too long", nil
	}
	return buf, "", nil
}

func (ss *session) resetTx() {
	ss.inTx, ss.from, ss.to = false, "", nil
}

func (ss *session) hello(verb, arg string) {
	if strings.TrimSpace(arg) == "" {
		ss.reply(501, "5.5.4 Syntax: "+verb+" hostname")
		return
	}
	ss.helo = strings.TrimSpace(arg)
	ss.resetTx()
	if verb == "HELO" {
		ss.reply(250, "127.0.0.1")
		return
	}
	lines := []string{"127.0.0.1 Hello " + ss.helo, "SIZE " + strconv.Itoa(ss.srv.cfg.MaxSize)}
	if ss.srv.tlsConf != nil && !ss.tls {
		lines = append(lines, "STARTTLS")
	}
	if len(ss.srv.cfg.Users) > 0 {
		lines = append(lines, "AUTH PLAIN")
	}
	lines = append(lines, "ENHANCEDSTATUSCODES", "HELP")
	ss.reply(250, lines...)
}

func (ss *session) startTLS(arg string) bool {
	switch {
	case ss.srv.tlsConf == nil:
		ss.reply(502, "5.5.1 STARTTLS not offered")
		return true
	case ss.tls:
		ss.reply(503, "5.5.1 Already under TLS")
		return true
	case arg != "":
		ss.reply(501, "5.5.4 Syntax: STARTTLS")
		return true
	}
	ss.reply(220, "2.0.0 Ready to start TLS")
	tc := tls.Server(ss.conn, ss.srv.tlsConf)
	if err := tc.Handshake(); err != nil {
		return false
	}
	// RFC 3207 §4.2: forget everything, including what the client sent before the
	// handshake; the new reader drops any bytes buffered in plain text.
	ss.conn, ss.r, ss.w = tc, bufio.NewReader(tc), bufio.NewWriter(tc)
	ss.tls, ss.helo, ss.authUser = true, "", ""
	ss.resetTx()
	return true
}

func (ss *session) auth(arg string) bool {
	switch {
	case len(ss.srv.cfg.Users) == 0:
		ss.reply(502, "5.5.1 AUTH not offered")
		return true
	case ss.helo == "":
		ss.reply(503, "5.5.1 Send EHLO first")
		return true
	case ss.authUser != "":
		ss.reply(503, "5.5.1 Already authenticated")
		return true
	case ss.inTx:
		ss.reply(503, "5.5.1 AUTH not allowed during a mail transaction")
		return true
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		ss.reply(504, "5.5.4 Unrecognized authentication type")
		return true
	}
	if initial == "" {
		ss.reply(334, "")
		line, bad, err := ss.readLine(maxTextLine)
		if err != nil {
			return false
		}
		if bad != "" {
			ss.reply(500, "5.5.2 Syntax error: "+bad)
			return true
		}
		initial = string(line)
	}
	if initial == "*" {
		ss.reply(501, "5.0.0 Authentication cancelled")
		return true
	}
	if initial == "=" {
		initial = ""
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		ss.reply(501, "5.5.2 Cannot decode response")
		return true
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		ss.reply(501, "5.5.2 Malformed PLAIN response")
		return true
	}
	if pw, ok := ss.srv.cfg.Users[parts[1]]; !ok || pw != parts[2] || parts[1] == "" {
		ss.reply(535, "5.7.8 Authentication credentials invalid")
		return true
	}
	ss.authUser = parts[1]
	ss.reply(235, "2.7.0 Authentication successful")
	return true
}

// parsePath splits "FROM:<path> params" after its keyword.
func parsePath(arg, keyword string) (path, params string, ok bool) {
	if len(arg) < len(keyword) || !strings.EqualFold(arg[:len(keyword)], keyword) {
		return "", "", false
	}
	rest := strings.TrimLeft(arg[len(keyword):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", "", false
	}
	return rest[1:end], strings.TrimSpace(rest[end+1:]), true
}

func (ss *session) mail(arg string) {
	if ss.helo == "" {
		ss.reply(503, "5.5.1 Send EHLO first")
		return
	}
	if ss.inTx {
		ss.reply(503, "5.5.1 Nested MAIL command")
		return
	}
	path, params, ok := parsePath(arg, "FROM:")
	if !ok {
		ss.reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
		return
	}
	if ss.srv.cfg.RequireAuth && ss.authUser == "" {
		ss.reply(530, "5.7.0 Authentication required")
		return
	}
	for _, p := range strings.Fields(params) {
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "SIZE":
			if n, err := strconv.Atoi(v); err != nil || n > ss.srv.cfg.MaxSize {
				ss.reply(552, "5.3.4 Message size exceeds fixed limit")
				return
			}
		default:
			ss.reply(555, "5.5.4 Unsupported parameter "+k)
			return
		}
	}
	if r, ok := ss.srv.failure(StageMail); ok {
		ss.reply(r.code, r.text)
		return
	}
	ss.inTx, ss.from = true, path
	ss.reply(250, "2.1.0 Ok")
}

func (ss *session) rcpt(arg string) {
	if !ss.inTx {
		ss.reply(503, "5.5.1 Need MAIL command")
		return
	}
	path, _, ok := parsePath(arg, "TO:")
	if !ok || path == "" {
		ss.reply(501, "5.1.3 Syntax: RCPT TO:<address>")
		return
	}
	if r, ok := ss.srv.failure(StageRcpt); ok {
		ss.reply(r.code, r.text)
		return
	}
	if len(ss.to) >= maxRecipients {
		ss.reply(452, "4.5.3 Too many recipients")
		return
	}
	ss.to = append(ss.to, path)
	ss.reply(250, "2.1.5 Ok")
}

// data reads the message up to its final dot line and answers it; false means the
// connection broke.
func (ss *session) data(arg string) bool {
	switch {
	case arg != "":
		ss.reply(501, "5.5.4 Syntax: DATA")
		return true
	case !ss.inTx:
		ss.reply(503, "5.5.1 Need MAIL command")
		return true
	case len(ss.to) == 0:
		ss.reply(554, "5.5.1 No valid recipients")
		return true
	}
	ss.reply(354, "End data with <CR><LF>.<CR><LF>")
	var buf bytes.Buffer
	var problem string
	for {
		line, bad, err := ss.readLine(maxTextLine)
		if err != nil {
			return false
		}
		if bad != "" {
			if problem == "" {
				problem = bad
			}
			continue
		}
		if string(line) == "." {
			break
		}
		// RFC 5321 §4.5.2: a leading dot was doubled by the client.
		line = bytes.TrimPrefix(line, []byte("."))
		if problem == "" && bytes.IndexFunc(line, func(r rune) bool { return r >= 0x80 }) >= 0 {
			problem = "8-bit data without 8BITMIME"
		}
		if buf.Len() <= ss.srv.cfg.MaxSize {
			buf.Write(line)
			buf.WriteString("\r\n")
		}
	}
	defer ss.resetTx()
	if problem != "" {
		ss.reply(554, "5.6.0 Message refused: "+problem)
		return true
	}
	if r, ok := ss.srv.failure(StageData); ok {
		ss.reply(r.code, r.text)
		return true
	}
	if buf.Len() > ss.srv.cfg.MaxSize {
		ss.reply(552, "5.3.4 Message size exceeds fixed limit")
		return true
	}
	ss.srv.deliver(Message{
		Helo: ss.helo, From: ss.from, To: ss.to, Data: bytes.Clone(buf.Bytes()),
		TLS: ss.tls, AuthUser: ss.authUser,
	})
	ss.reply(250, "2.0.0 Ok: queued")
	return true
}
