package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentSettingsComeFromTheEnvironment(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("file-token-0123456789\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		env     map[string]string
		want    agentSettings
		wantErr []string
	}{
		"defaults_to_unsigned_allowed_and_no_enrolment": {env: nil, want: agentSettings{}},
		"reads_require_signed_and_the_token": {env: map[string]string{"DRIFTWATCH_REQUIRE_SIGNED": "1", "DRIFTWATCH_ENROL_TOKEN": "env-token-0123456789"},
			want: agentSettings{RequireSigned: true, EnrolToken: "env-token-0123456789"}},
		"reads_the_first_line_of_a_token_file": {env: map[string]string{"DRIFTWATCH_ENROL_TOKEN_FILE": tokenFile},
			want: agentSettings{EnrolToken: "file-token-0123456789"}},
		"reports_every_bad_setting_at_once": {env: map[string]string{"DRIFTWATCH_REQUIRE_SIGNED": "maybe", "DRIFTWATCH_ENROL_TOKEN": "short"},
			wantErr: []string{"DRIFTWATCH_REQUIRE_SIGNED", "at least 16"}},
		"refuses_a_token_given_twice": {env: map[string]string{"DRIFTWATCH_ENROL_TOKEN": "env-token-0123456789", "DRIFTWATCH_ENROL_TOKEN_FILE": tokenFile},
			wantErr: []string{"only one"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"DRIFTWATCH_REQUIRE_SIGNED", "DRIFTWATCH_ENROL_TOKEN", "DRIFTWATCH_ENROL_TOKEN_FILE"} {
				t.Setenv(k, c.env[k])
			}
			got, err := agentSettingsFromEnv()
			for _, w := range c.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
			if c.wantErr == nil && (err != nil || got != c.want) {
				t.Errorf("got %+v (%v), want %+v", got, err, c.want)
			}
		})
	}
}
