package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/notify"
)

// Slack's documented limits, in characters (see the package comment).
const (
	// MaxText is the most characters of a message's text Slack keeps.
	MaxText = 40000
	// FallbackText is how long the sender keeps the text, which only backs the blocks up.
	FallbackText = 3000
	// MaxBlocks is the most blocks in one message.
	MaxBlocks = 50
	// MaxHeaderText is the most characters of a header block's text.
	MaxHeaderText = 150
	// MaxSectionText is the most characters of a section block's text.
	MaxSectionText = 3000
	// MaxFields is the most fields of a section block.
	MaxFields = 10
	// MaxFieldText is the most characters of one section field.
	MaxFieldText = 2000
)

type message struct {
	Text   string  `json:"text"`
	Blocks []block `json:"blocks"`
}

type block struct {
	Type   string       `json:"type"`
	Text   *textObject  `json:"text,omitempty"`
	Fields []textObject `json:"fields,omitempty"`
}

type textObject struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func mrkdwn(s string) *textObject { return &textObject{Type: "mrkdwn", Text: s} }

// render builds the webhook's JSON body for n.
func render(n notify.Notification) ([]byte, error) {
	title := fmt.Sprintf("[%s] Drift %s: %s", n.Severity, n.Event, n.CIID)
	if n.Field != "" {
		title += " " + n.Field
	}
	text := "[driftwatch] " + title
	if n.Summary != "" {
		text += " — " + n.Summary
	}
	m := message{
		Text: escape(text, FallbackText),
		Blocks: []block{{
			Type: "header",
			Text: &textObject{Type: "plain_text", Text: cutRunes(oneLine(title), MaxHeaderText)},
		}},
	}
	summary := n.Summary
	if n.Planned {
		summary += "\n_Planned: explained by an approved change or a remediation in progress._"
	}
	if strings.TrimSpace(summary) != "" {
		m.Blocks = append(m.Blocks, block{Type: "section", Text: mrkdwn(escape(summary, MaxSectionText))})
	}
	m.Blocks = append(m.Blocks, block{Type: "section", Fields: fields(n)})
	if strings.TrimSpace(n.Detail) != "" {
		const fence = "```"
		detail := strings.TrimRight(strings.ReplaceAll(n.Detail, fence, "``\u200b`"), "\n")
		body := escape(detail, MaxSectionText-2*len(fence)-2)
		m.Blocks = append(m.Blocks, block{Type: "section", Text: mrkdwn(fence + "\n" + body + "\n" + fence)})
	}
	if link := linkURL(n.URL); link != "" && utf8.RuneCountInString(link) < MaxSectionText-40 {
		m.Blocks = append(m.Blocks, block{Type: "section", Text: mrkdwn("<" + link + "|Open in driftwatch>")})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Slack reads the text itself; HTML escapes in JSON would only make it longer.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode slack message: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// fields lists the drift's facts, label in bold above value, at most MaxFields.
func fields(n notify.Notification) []textObject {
	var out []textObject
	add := func(label, value string, code bool) {
		if value == "" {
			return
		}
		head := "*" + label + "*\n"
		budget := MaxFieldText - utf8.RuneCountInString(head)
		if code {
			// Inside a code span a backquote would end it early.
			value = "`" + escape(strings.ReplaceAll(oneLine(value), "`", "'"), budget-2) + "`"
		} else {
			value = escape(oneLine(value), budget)
		}
		out = append(out, textObject{Type: "mrkdwn", Text: head + value})
	}
	ci := n.CIID
	if n.CIType != "" {
		ci += " (" + n.CIType + ")"
	}
	add("CI", ci, false)
	if n.Field == "" {
		add("Field", "whole CI", false)
	} else {
		add("Field", n.Field, true)
	}
	add("Severity", string(n.Severity), false)
	add("Category", string(n.Category), false)
	add("Desired", compactJSON(n.Desired), true)
	add("Actual", compactJSON(n.Actual), true)
	add("Policy", n.PolicyID, false)
	add("Ticket", n.Ticket, false)
	add("Acknowledged by", n.By, false)
	if len(out) > MaxFields {
		out = out[:MaxFields]
	}
	return out
}

// escape escapes s for mrkdwn (& < > as entities) and cuts the result to at most max
// characters, between runes and never inside an entity, ending in an ellipsis when cut.
func escape(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	full := mrkdwnEscaper.Replace(s)
	if utf8.RuneCountInString(full) <= max {
		return full
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		e := string(r)
		switch r {
		case '&':
			e = "&amp;"
		case '<':
			e = "&lt;"
		case '>':
			e = "&gt;"
		}
		w := utf8.RuneCountInString(e)
		if n+w > max-1 {
			break
		}
		b.WriteString(e)
		n += w
	}
	b.WriteString("…")
	return b.String()
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// linkURL makes u safe inside a mrkdwn link <url|text>: & as its entity, and the
// characters that would end the link percent-encoded. Only http and https links are made.
func linkURL(u string) string {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ""
	}
	return strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20", "\n", "", "\r", "").Replace(u)
}

// oneLine replaces control characters, line breaks among them, with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
