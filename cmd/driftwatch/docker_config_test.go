package main

import (
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

func actionRequest() action.Request {
	return action.Request{Kind: drift.ActionKindQuarantine, CIID: "web-1"}
}

func TestDockerFlags(t *testing.T) {
	t.Setenv("DRIFTWATCH_DOCKER_HOST", "")
	cases := []struct {
		name string
		args []string
		want string // part of the error, "" for none
	}{
		{"leaves_docker_off_by_default", nil, ""},
		{"takes_a_unix_socket", []string{"--docker-host", "unix:///var/run/docker.sock", "--docker-selector", "env=prod, team"}, ""},
		{"refuses_an_address_without_scheme", []string{"--docker-host", "/var/run/docker.sock"}, "--docker-host"},
		{"refuses_a_selector_without_key", []string{"--docker-selector", "env=prod,=x"}, "--docker-selector"},
		{"refuses_an_empty_quarantine_network", []string{"--quarantine-network", ""}, "--quarantine-network"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := parseFlags("serve", append([]string{"--data-dir", t.TempDir()}, c.args...), true)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
			if c.want == "" && cfg.QuarantineNetwork != "driftwatch-quarantine" {
				t.Fatalf("quarantine network %q", cfg.QuarantineNetwork)
			}
		})
	}
	if got := selector(config{DockerSelector: " env=prod , ,team"}); strings.Join(got, "|") != "env=prod|team" {
		t.Fatalf("selector %v", got)
	}
	exec, err := (&app{}).executor()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Execute(t.Context(), actionRequest()); err == nil || !strings.Contains(err.Error(), "--docker-host") {
		t.Fatalf("without docker every action fails naming the flag: %v", err)
	}
}
