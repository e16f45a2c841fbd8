// Package slackfake is a Slack incoming webhook for tests: an HTTP server that checks each
// posted message against Slack's documented rules and answers as Slack does (200 "ok";
// 400 invalid_payload, invalid_blocks or no_text; 404 no_service for an unknown webhook
// path). Tests can queue other answers (a 429 with Retry-After, a 5xx, a 410
// channel_is_archived) with FailNext.
//
// Hard rules (api.slack.com/reference/block-kit/blocks), which Slack refuses with 400
// invalid_blocks: at most 50 blocks; block types header, section and divider (the ones this
// fake knows; others are refused) with no unknown keys; a header's text plain_text of 1 to 150
// characters; a section with text (1 to 3,000 characters) or fields (1 to 10, each 1 to 2,000);
// text objects of type plain_text or mrkdwn, emoji only on plain_text and verbatim only on
// mrkdwn; block_id at most 255 characters and unique. Soft rules, which Slack does not refuse
// but which the fake records as a Message's Problems: text over 40,000 characters (Slack
// truncates it), text over 3,000 (too long for a fallback), and mrkdwn that is not escaped (a
// & that does not start &amp; &lt; or &gt;, a < that does not start a link or mention, a >
// outside one that does not start a quote).
package slackfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Path is the webhook path the fake serves; other paths get 404 no_service.
const Path = "/services/TFAKE0000/BFAKE0000/fakewebhooksecret000000"

// Response is an answer a test queues with FailNext.
type Response struct {
	// Status is the HTTP status.
	Status int
	// Body is the plain-text body, as Slack's ("rate_limited", "channel_is_archived").
	Body string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
}

// Message is a message the fake accepted.
type Message struct {
	// Text is the message's top-level text.
	Text string
	// Blocks are the message's blocks, decoded.
	Blocks []map[string]any
	// Raw is the request body.
	Raw []byte
	// Problems lists the soft rules the message breaks (see the package comment).
	Problems []string
}

// Server is a running fake webhook. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	queue    []Response
	messages []Message
	rejected []string
	requests int
}

// Start starts a fake on 127.0.0.1; it is closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the webhook's URL.
func (s *Server) URL() string { return s.srv.URL + Path }

// FailNext queues answers for the next requests, one each, before any check.
func (s *Server) FailNext(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, rs...)
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Rejected returns why each refused message was refused, in order.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// Requests counts every request received, answered or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	var queued *Response
	if len(s.queue) > 0 {
		queued = &s.queue[0]
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()
	if queued != nil {
		if queued.RetryAfter != "" {
			w.Header().Set("Retry-After", queued.RetryAfter)
		}
		text(w, queued.Status, queued.Body)
		return
	}
	if r.URL.Path != Path {
		text(w, http.StatusNotFound, "no_service")
		return
	}
	if r.Method != http.MethodPost {
		text(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		text(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	msg, code, reason := Check(r.Header.Get("Content-Type"), raw)
	if code != "" {
		s.mu.Lock()
		s.rejected = append(s.rejected, code+": "+reason)
		s.mu.Unlock()
		text(w, http.StatusBadRequest, code)
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, msg)
	s.mu.Unlock()
	text(w, http.StatusOK, "ok")
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// Check checks a request body as the webhook would: it returns the message, or Slack's error
// code (invalid_payload, no_text, invalid_blocks) and the reason.
func Check(contentType string, raw []byte) (msg Message, code, reason string) {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return msg, "invalid_payload", fmt.Sprintf("content type %q is not application/json", contentType)
	}
	if !utf8.Valid(raw) {
		return msg, "invalid_payload", "body is not UTF-8"
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return msg, "invalid_payload", "body is not a JSON object: " + err.Error()
	}
	msg.Raw = bytes.Clone(raw)
	if t, ok := top["text"]; ok {
		if err := json.Unmarshal(t, &msg.Text); err != nil {
			return msg, "invalid_payload", "text is not a string"
		}
	}
	var blocks []json.RawMessage
	if b, ok := top["blocks"]; ok {
		if err := json.Unmarshal(b, &blocks); err != nil {
			return msg, "invalid_blocks_format", "blocks is not an array"
		}
	}
	if msg.Text == "" && len(blocks) == 0 {
		return msg, "no_text", "neither text nor blocks"
	}
	if err := checkBlocks(blocks, &msg); err != nil {
		return msg, "invalid_blocks", err.Error()
	}
	if c := utf8.RuneCountInString(msg.Text); c > 40000 {
		msg.Problems = append(msg.Problems, fmt.Sprintf("text: %d characters, Slack truncates after 40000", c))
	} else if c > 3000 {
		msg.Problems = append(msg.Problems, fmt.Sprintf("text: %d characters, more than 3000 for a fallback", c))
	}
	for _, p := range MrkdwnProblems(msg.Text) {
		msg.Problems = append(msg.Problems, "text: "+p)
	}
	return msg, "", ""
}

func checkBlocks(raws []json.RawMessage, msg *Message) error {
	if len(raws) > 50 {
		return fmt.Errorf("%d blocks, at most 50", len(raws))
	}
	ids := map[string]bool{}
	for i, raw := range raws {
		var b map[string]json.RawMessage
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("blocks[%d]: not an object", i)
		}
		var decoded map[string]any
		_ = json.Unmarshal(raw, &decoded)
		msg.Blocks = append(msg.Blocks, decoded)
		var typ string
		_ = json.Unmarshal(b["type"], &typ)
		where := fmt.Sprintf("blocks[%d] (%s)", i, typ)
		if id, ok := b["block_id"]; ok {
			var s string
			if err := json.Unmarshal(id, &s); err != nil || s == "" || utf8.RuneCountInString(s) > 255 || ids[s] {
				return fmt.Errorf("%s: block_id must be a unique string of 1 to 255 characters", where)
			}
			ids[s] = true
		}
		var err error
		switch typ {
		case "header":
			err = onlyKeys(b, "type", "text", "block_id")
			if err == nil {
				err = checkText(b["text"], 150, msg, "plain_text")
			}
		case "section":
			err = checkSection(b, msg)
		case "divider":
			err = onlyKeys(b, "type", "block_id")
		default:
			err = fmt.Errorf("unknown block type %q", typ)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

func checkSection(b map[string]json.RawMessage, msg *Message) error {
	if err := onlyKeys(b, "type", "text", "fields", "block_id"); err != nil {
		return err
	}
	t, hasText := b["text"]
	f, hasFields := b["fields"]
	if !hasText && !hasFields {
		return errors.New("a section needs text or fields")
	}
	if hasText {
		if err := checkText(t, 3000, msg, "plain_text", "mrkdwn"); err != nil {
			return fmt.Errorf("text: %w", err)
		}
	}
	if hasFields {
		var fields []json.RawMessage
		if err := json.Unmarshal(f, &fields); err != nil {
			return errors.New("fields is not an array")
		}
		if len(fields) == 0 || len(fields) > 10 {
			return fmt.Errorf("%d fields, need 1 to 10", len(fields))
		}
		for i, fr := range fields {
			if err := checkText(fr, 2000, msg, "plain_text", "mrkdwn"); err != nil {
				return fmt.Errorf("fields[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// checkText checks a text object of one of the given types and at most max characters.
func checkText(raw json.RawMessage, max int, msg *Message, types ...string) error {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return errors.New("text is not a text object")
	}
	var typ, s string
	if err := json.Unmarshal(o["type"], &typ); err != nil || !slices.Contains(types, typ) {
		return fmt.Errorf("text type %s, want one of %v", o["type"], types)
	}
	allowed := []string{"type", "text", "emoji"}
	if typ == "mrkdwn" {
		allowed = []string{"type", "text", "verbatim"}
	}
	if err := onlyKeys(o, allowed...); err != nil {
		return err
	}
	for _, k := range []string{"emoji", "verbatim"} {
		if v, ok := o[k]; ok {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%s is not a boolean", k)
			}
		}
	}
	if err := json.Unmarshal(o["text"], &s); err != nil {
		return errors.New("text is not a string")
	}
	if c := utf8.RuneCountInString(s); c == 0 || c > max {
		return fmt.Errorf("text of %d characters, need 1 to %d", c, max)
	}
	if typ == "mrkdwn" {
		for _, p := range MrkdwnProblems(s) {
			msg.Problems = append(msg.Problems, "mrkdwn: "+p)
		}
	}
	return nil
}

func onlyKeys(o map[string]json.RawMessage, allowed ...string) error {
	for k := range o {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("unknown key %q", k)
		}
	}
	return nil
}

// MrkdwnProblems lists what in s breaks Slack's escaping rules
// (api.slack.com/reference/surfaces/formatting#escaping): a & that does not start &amp; &lt;
// or &gt;, a < that does not start a control sequence (<http...>, <mailto:...>, <@U...>,
// <#C...>, <!here>), a > outside one unless it starts a line (a quote).
func MrkdwnProblems(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				out = append(out, fmt.Sprintf("unescaped & at %d", i))
			}
		case '<':
			end := strings.IndexAny(s[i+1:], "<>")
			if end < 0 || s[i+1+end] != '>' {
				out = append(out, fmt.Sprintf("unescaped < at %d", i))
				continue
			}
			inner := s[i+1 : i+1+end]
			ok := false
			for _, p := range []string{"http://", "https://", "mailto:", "@", "#", "!"} {
				ok = ok || strings.HasPrefix(inner, p)
			}
			if !ok || strings.ContainsAny(inner, " \n") && !strings.Contains(inner, "|") {
				out = append(out, fmt.Sprintf("< at %d starts no link or mention", i))
			}
			i += end + 1
		case '>':
			if i > 0 && s[i-1] != '\n' {
				out = append(out, fmt.Sprintf("unescaped > at %d", i))
			}
		}
	}
	return out
}
