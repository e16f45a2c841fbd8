package slackfake_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/slackfake"
)

func section(text string) string {
	return fmt.Sprintf(`{"type":"section","text":{"type":"mrkdwn","text":%q}}`, text)
}

func blocks(bs ...string) string { return `{"text":"t","blocks":[` + strings.Join(bs, ",") + `]}` }

func fields(n, size int) string {
	var fs []string
	for range n {
		fs = append(fs, fmt.Sprintf(`{"type":"mrkdwn","text":%q}`, strings.Repeat("a", size)))
	}
	return `{"type":"section","fields":[` + strings.Join(fs, ",") + `]}`
}

func TestWebhookAnswersLikeSlack(t *testing.T) {
	t.Parallel()
	many := make([]string, 51)
	for i := range many {
		many[i] = `{"type":"divider"}`
	}
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		answer      string
	}{
		{"a_valid_message_gets_ok", "", "", blocks(`{"type":"header","text":{"type":"plain_text","text":"h","emoji":true}}`, section("s"), fields(10, 2000), `{"type":"divider"}`), 200, "ok"},
		{"a_text_only_message_gets_ok", "", "", `{"text":"hello"}`, 200, "ok"},
		{"an_unknown_path_is_no_service", "/services/T/B/other", "", `{"text":"x"}`, 404, "no_service"},
		{"a_form_body_is_invalid_payload", "", "application/x-www-form-urlencoded", `payload=x`, 400, "invalid_payload"},
		{"broken_json_is_invalid_payload", "", "", `{"text":`, 400, "invalid_payload"},
		{"no_text_and_no_blocks_is_no_text", "", "", `{"text":""}`, 400, "no_text"},
		{"blocks_that_are_no_array_are_invalid_format", "", "", `{"blocks":{}}`, 400, "invalid_blocks_format"},
		{"fifty_one_blocks_are_invalid", "", "", blocks(many...), 400, "invalid_blocks"},
		{"a_header_of_151_characters_is_invalid", "", "", blocks(fmt.Sprintf(`{"type":"header","text":{"type":"plain_text","text":%q}}`, strings.Repeat("é", 151))), 400, "invalid_blocks"},
		{"a_header_of_150_characters_is_valid", "", "", blocks(fmt.Sprintf(`{"type":"header","text":{"type":"plain_text","text":%q}}`, strings.Repeat("é", 150))), 200, "ok"},
		{"a_mrkdwn_header_is_invalid", "", "", blocks(`{"type":"header","text":{"type":"mrkdwn","text":"h"}}`), 400, "invalid_blocks"},
		{"a_section_of_3001_characters_is_invalid", "", "", blocks(section(strings.Repeat("a", 3001))), 400, "invalid_blocks"},
		{"eleven_fields_are_invalid", "", "", blocks(fields(11, 1)), 400, "invalid_blocks"},
		{"a_field_of_2001_characters_is_invalid", "", "", blocks(fields(1, 2001)), 400, "invalid_blocks"},
		{"an_empty_section_is_invalid", "", "", blocks(`{"type":"section"}`), 400, "invalid_blocks"},
		{"an_unknown_block_key_is_invalid", "", "", blocks(`{"type":"section","text":{"type":"mrkdwn","text":"a"},"colour":"red"}`), 400, "invalid_blocks"},
		{"emoji_on_mrkdwn_is_invalid", "", "", blocks(`{"type":"section","text":{"type":"mrkdwn","text":"a","emoji":true}}`), 400, "invalid_blocks"},
		{"a_duplicate_block_id_is_invalid", "", "", blocks(`{"type":"divider","block_id":"x"}`, `{"type":"divider","block_id":"x"}`), 400, "invalid_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slackfake.Start(t)
			url := fake.URL()
			if tt.path != "" {
				url = strings.TrimSuffix(url, slackfake.Path) + tt.path
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			resp, err := http.Post(url, ct, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(b) != tt.answer {
				t.Errorf("answer %d %q, want %d %q (rejected: %v)", resp.StatusCode, b, tt.status, tt.answer, fake.Rejected())
			}
			if ok := len(fake.Messages()) == 1; ok != (tt.status == 200) {
				t.Errorf("recorded %d messages", len(fake.Messages()))
			}
		})
	}
}

func TestMrkdwnProblemsFindsUnescapedText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		problems int
	}{
		{"escaped_text_is_fine", "a &amp; b &lt;c&gt;", 0},
		{"links_and_mentions_are_fine", "<https://x.example/a?b=1&amp;c=2|x> <@U123> <!here> <#C1>", 0},
		{"a_quote_at_a_line_start_is_fine", "> quoted\n> again", 0},
		{"a_bare_ampersand_is_a_problem", "a & b", 1},
		{"a_cut_entity_is_a_problem", "a &am", 1},
		{"a_bare_less_than_is_a_problem", "a < b", 1},
		{"a_tag_is_a_problem", "<script>", 1},
		{"a_greater_than_inside_a_line_is_a_problem", "a > b", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := slackfake.MrkdwnProblems(tt.text); len(got) != tt.problems {
				t.Errorf("problems %v, want %d", got, tt.problems)
			}
		})
	}
}

func TestFailNextAnswersQueuedResponsesInOrder(t *testing.T) {
	t.Parallel()
	fake := slackfake.Start(t)
	fake.FailNext(slackfake.Response{Status: 429, Body: "rate_limited", RetryAfter: "7"}, slackfake.Response{Status: 500, Body: "rollup_error"})
	for _, want := range []struct {
		status     int
		retryAfter string
	}{{429, "7"}, {500, ""}, {200, ""}} {
		resp, err := http.Post(fake.URL(), "application/json", strings.NewReader(`{"text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want.status || resp.Header.Get("Retry-After") != want.retryAfter {
			t.Errorf("answer %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), want.status, want.retryAfter)
		}
	}
	if fake.Requests() != 3 || len(fake.Messages()) != 1 {
		t.Errorf("%d requests, %d messages", fake.Requests(), len(fake.Messages()))
	}
}
