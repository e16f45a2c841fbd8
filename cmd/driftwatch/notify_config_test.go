package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// readmeNotifyConfig is the example config of README.md's "Notifications" section.
func readmeNotifyConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n## Notifications\n")
	_, block, ok2 := strings.Cut(sec, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no YAML example under ## Notifications")
	}
	return block
}

var notifyEnv = map[string]string{
	"DRIFTWATCH_SMTP_PASSWORD":   "hunter2",
	"DRIFTWATCH_SLACK_URL":       "https://hooks.slack.com/services/T0/B0/XXXX",
	"DRIFTWATCH_PAGERDUTY_KEY":   "R0123456789abcdefABCDEF012345678",
	"DRIFTWATCH_HOOK_SECRET":     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"DRIFTWATCH_HOOK_SECRET_OLD": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
}

func writeNotifyConfig(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadNotifyConfigBuildsTheREADMEExample(t *testing.T) {
	t.Parallel()
	cfg, err := loadNotifyConfig(writeNotifyConfig(t, "notify.yaml", readmeNotifyConfig(t)), func(k string) string { return notifyEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range cfg.Routing.Receivers {
		kinds = append(kinds, r.Name+"="+r.Kind)
	}
	if got := strings.Join(kinds, " "); got != "ops-mail=email ops-slack=slack oncall=pagerduty audit=webhook" {
		t.Errorf("receivers %s", got)
	}
	if len(cfg.Routing.Routes) != 3 || cfg.Routing.Routes[1].MinSeverity != drift.SeverityHigh || cfg.Routing.Routes[1].Categories[1] != drift.CategorySecurity || cfg.Routing.Routes[2].Events[0] != notify.EventEscalated {
		t.Errorf("routes %+v", cfg.Routing.Routes)
	}
	if r, err := cfg.Routing.Addressed("team@example.com"); err != nil || r.Kind != notify.KindEmail {
		t.Errorf("an address of a policy: %+v %v", r, err)
	}
}

func TestLoadNotifyConfigTakesJSON(t *testing.T) {
	t.Parallel()
	body := `{"receivers": [{"name": "oncall", "pagerduty": {"routing_key_env": "DRIFTWATCH_PAGERDUTY_KEY"}}],
	  "routes": [{"receivers": ["oncall"], "min_severity": "critical", "categories": ["security"]}]}`
	cfg, err := loadNotifyConfig(writeNotifyConfig(t, "notify.json", body), func(k string) string { return notifyEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routing.Receivers) != 1 || cfg.Routing.Routes[0].Categories[0] != drift.CategorySecurity {
		t.Errorf("config %+v", cfg.Routing)
	}
}

func TestLoadNotifyConfigRefusesABadFileNamingEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		env  map[string]string
		want []string
	}{
		{"an_unknown_key_names_file_line_and_key", "receivers:\n  - name: a\n    slak: {}\n", nil, []string{"notify.yaml:3: unknown key \"slak\""}},
		{"a_missing_variable_is_named", readmeNotifyConfig(t), map[string]string{}, []string{"DRIFTWATCH_SMTP_PASSWORD is not set", "DRIFTWATCH_SLACK_URL is not set", "DRIFTWATCH_PAGERDUTY_KEY is not set", "DRIFTWATCH_HOOK_SECRET_OLD is not set"}},
		{"a_receiver_of_two_kinds", "receivers:\n  - name: a\n    slack: {webhook_url_env: DRIFTWATCH_SLACK_URL}\n    pagerduty: {routing_key_env: DRIFTWATCH_PAGERDUTY_KEY}\n", notifyEnv, []string{"exactly one of"}},
		{"email_without_a_server", "receivers:\n  - name: a\n    email: {to: [x@example.com]}\n", notifyEnv, []string{"needs the smtp server"}},
		{"a_route_to_nobody", "receivers: []\nroutes:\n  - receivers: [ghost]\n    min_severity: huge\n", notifyEnv, []string{`"ghost" is not a receiver`, `"huge"`}},
		{"a_bad_secret", "receivers:\n  - name: h\n    webhook: {url: 'https://x.example', secrets_env: [BAD]}\n", map[string]string{"BAD": "not-a-secret"}, []string{"secrets[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadNotifyConfig(writeNotifyConfig(t, "notify.yaml", tt.body), func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %s", err, w)
				}
			}
			for _, v := range notifyEnv {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestStagesRunNotifyOnlyWithAConfig(t *testing.T) {
	t.Parallel()
	if got := (config{Stages: "all"}).stageList(); strings.Contains(strings.Join(got, ","), "notify") {
		t.Errorf("without a config, all is %v", got)
	}
	if got := (config{Stages: "all", NotifyConfig: "n.yaml"}).stageList(); !strings.Contains(strings.Join(got, ","), "notify") {
		t.Errorf("with a config, all is %v", got)
	}
}
