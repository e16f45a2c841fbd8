package script_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/action/script"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"masks_a_password_after_a_colon", "password: hunter2", "password: [REDACTED]"},
		{"masks_a_token_after_an_equals_sign", "export TOKEN=abc def", "export TOKEN=[REDACTED] def"},
		{"masks_a_quoted_json_key", `{"api_key": "k-1"}`, `{"api_key": [REDACTED]`},
		{"masks_every_line", "secret=a\npasswd = b\n", "secret=[REDACTED]\npasswd = [REDACTED]\n"},
		{"keeps_a_value_on_the_next_line", "password:\nnext", "password:\nnext"},
		{"keeps_text_without_secrets", "changed: [web-1]", "changed: [web-1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := script.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		limit  int
	}{
		{"keeps_a_short_output_whole", []string{"hello ", "world"}, 1024},
		{"keeps_head_and_tail_of_a_long_output", []string{strings.Repeat("a", 3000), strings.Repeat("b", 3000), "THE END"}, 1024},
		{"keeps_the_tail_across_many_small_writes", strings.Split(strings.Repeat("line of text\n", 500)+"THE END", ""), 1024},
		{"cuts_on_character_boundaries", []string{strings.Repeat("é😀", 2000) + "THE END"}, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := script.NewBounded(tt.limit)
			all := strings.Join(tt.writes, "")
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("write: %d, %v", n, err)
				}
			}
			got := b.String()
			if b.Len() != int64(len(all)) {
				t.Errorf("Len %d, want %d", b.Len(), len(all))
			}
			if len(all) <= tt.limit {
				if got != all {
					t.Errorf("got %q, want it whole", got)
				}
				return
			}
			if len(got) > tt.limit || !utf8.ValidString(got) {
				t.Errorf("got %d bytes (valid UTF-8: %v), want at most %d", len(got), utf8.ValidString(got), tt.limit)
			}
			if !strings.HasPrefix(all, got[:strings.Index(got, "\n[... ")]) || !strings.HasSuffix(got, "THE END") || !strings.Contains(got, "bytes of output left out") {
				t.Errorf("got %q, want the head, a note and the tail", got)
			}
		})
	}
}

func TestRunKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, id, prefix string
	}{
		{"keeps_a_plain_id_readable", "action-7f3a_b", "action-7f3a_b-"},
		{"replaces_unsafe_characters", "../a b/c", "a_b_c-"},
		{"never_starts_with_a_dash", "--//", "run-"},
		{"cuts_a_long_id", strings.Repeat("x", 100), strings.Repeat("x", 40) + "-"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		key := script.RunKey(tt.id)
		if !strings.HasPrefix(key, tt.prefix) || len(key) != len(tt.prefix)+12 {
			t.Errorf("%s: RunKey(%q) = %q, want %q and 12 hex digits", tt.name, tt.id, key, tt.prefix)
		}
		if key != script.RunKey(tt.id) {
			t.Errorf("%s: RunKey(%q) is not stable", tt.name, tt.id)
		}
		if other, dup := seen[key]; dup {
			t.Errorf("%s: %q and %q share the key %q", tt.name, tt.id, other, key)
		}
		seen[key] = tt.id
	}
	if script.RunKey("a/b") == script.RunKey("a_b") {
		t.Error("ids that differ only in unsafe characters share a key")
	}
}
