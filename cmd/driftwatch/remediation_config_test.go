package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

func TestRemediationFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // part of the error, "" for none
	}{
		{"defaults_to_nothing_configured", nil, ""},
		{"refuses_no_concurrency", []string{"--remediation-concurrency", "0"}, "--remediation-concurrency"},
		{"refuses_no_attempts", []string{"--remediation-attempts", "0"}, "--remediation-attempts"},
		{"refuses_two_itsm_systems", []string{"--servicenow-url", "https://x.service-now.com", "--ticket-webhook-url", "https://t.example"}, "choose one"},
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
			if c.want == "" && (cfg.Remediation.Attempts != 3 || cfg.Remediation.Concurrency != 2 || cfg.Remediation.MaxFailures != 5) {
				t.Fatalf("defaults %+v", cfg.Remediation)
			}
		})
	}
}

func TestRemediationExecutorsComeFromTheConfiguration(t *testing.T) {
	scriptDir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"fix-motd.sh": 0o755, "notes.txt": 0o644, "Bad Name.sh": 0o755} {
		if err := os.WriteFile(filepath.Join(scriptDir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := scripts(scriptDir)
	if err != nil || len(ids) != 1 || ids["fix-motd"] != filepath.Join(scriptDir, "fix-motd.sh") {
		t.Fatalf("scripts %v, %v", ids, err)
	}
	if _, err := scripts(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--script-dir") {
		t.Fatalf("an empty script dir: %v", err)
	}
	a := &app{log: zap.NewNop(), cfg: config{DataDir: t.TempDir(), Remediation: remediationConfig{
		PlaybookDir: "../../handlers/action/testdata/playbooks", ScriptDir: scriptDir, Concurrency: 2, MaxFailures: 5, Attempts: 3,
	}}}
	exec, err := a.executor()
	if err != nil {
		t.Fatal(err)
	}
	reg := exec.(*action.Registry)
	if k := reg.Kinds(); !slices.Contains(k, drift.ActionKindPlaybook) || !slices.Contains(k, drift.ActionKindScript) || slices.Contains(k, drift.ActionKindChangeRequest) {
		t.Fatalf("kinds %v", k)
	}
	_, err = exec.Execute(t.Context(), action.Request{Kind: drift.ActionKindChangeRequest, CIID: "web-1"})
	if err == nil || !strings.Contains(err.Error(), "--servicenow-url") {
		t.Fatalf("a ticket without an ITSM system fails naming the flag: %v", err)
	}
}
