package streams_test

import (
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
	"github.com/driftwatch/driftwatch/handlers/source/streams"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

func TestTranslateReadsEachInputStreamsEntryFormat(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, stream string
		values       map[string]any
		ci, ciType   string
		state, scope string
	}{
		{"the_shell_agents_payload_and_ci_id", streams.FileChanged,
			map[string]any{"payload": `{"path":"/etc/ssh/sshd_config","event":"MODIFY"}`, "ci_id": "node-1"},
			"node-1", "node", `{"files":{"/etc/ssh/sshd_config":{"event":"MODIFY","kind":"unverified"}}}`, "/files/~1etc~1ssh~1sshd_config"},
		{"spec_080s_json_document", streams.FileChanged,
			map[string]any{"payload": `{"event":"drift.file_changed","ci_id":"vm-1","path":"/etc/hosts","diff":"-a\n+b","detected_at":"2026-12-01T09:00:00Z"}`},
			"vm-1", "node", `{"files":{"/etc/hosts":{"event":"drift.file_changed","kind":"unverified"}}}`, "/files/~1etc~1hosts"},
		{"a_power_change_as_fields", streams.PowerChanged, map[string]any{"ci_id": "vm-2", "power_state": "off"},
			"vm-2", "vm", `{"power_state":"off"}`, "/power_state"},
		{"a_network_change_as_a_json_array_field", streams.NetworkChanged, map[string]any{"ci_id": "vm-3", "networks": `["lan","rogue"]`, "ci_type": "container"},
			"vm-3", "container", `{"networks":["lan","rogue"]}`, "/networks"},
		{"a_network_change_comma_separated", streams.NetworkChanged, map[string]any{"ci_id": "vm-3", "networks": "lan, dmz"},
			"vm-3", "vm", `{"networks":["lan","dmz"]}`, "/networks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := streams.Translate(c.stream, "1-0", c.values, now, ansible.Reader{})
			if err != nil {
				t.Fatal(err)
			}
			if o.CIID != c.ci || o.CIType != c.ciType || string(o.State) != c.state || len(o.Scope) != 1 || o.Scope[0] != c.scope || o.Source != streams.Source || o.ID == "" {
				t.Fatalf("observation %+v state %s", o, o.State)
			}
		})
	}
	o, _ := streams.Translate(streams.FileChanged, "1-0", cases[1].values, now, ansible.Reader{})
	if !o.ObservedAt.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) || o.Details["/files/~1etc~1hosts"] != "-a\n+b" {
		t.Fatalf("detected_at %s, details %v: want the entry's time and its diff", o.ObservedAt, o.Details)
	}
	again, _ := streams.Translate(streams.FileChanged, "1-0", cases[1].values, now.Add(time.Hour), ansible.Reader{})
	if again.ID != o.ID {
		t.Fatal("a redelivered entry got another observation id")
	}

	for name, bad := range map[string]struct {
		stream string
		values map[string]any
		want   string
	}{
		"no_ci_id":         {streams.PowerChanged, map[string]any{"power_state": "off"}, "ci_id: required"},
		"no_power_state":   {streams.PowerChanged, map[string]any{"ci_id": "x"}, "power_state: required"},
		"relative_path":    {streams.FileChanged, map[string]any{"ci_id": "x", "payload": `{"path":"etc/hosts"}`}, "path:"},
		"payload_not_json": {streams.FileChanged, map[string]any{"ci_id": "x", "payload": `{`}, "payload: not a JSON object"},
		"bad_time":         {streams.FileChanged, map[string]any{"ci_id": "x", "path": "/a", "detected_at": "soon"}, "detected_at"},
		"no_networks":      {streams.NetworkChanged, map[string]any{"ci_id": "x"}, "networks: required"},
		"facts_no_payload": {streams.FactsCollected, map[string]any{"ci_id": "x"}, "payload: required"},
	} {
		t.Run("refuses_"+name, func(t *testing.T) {
			_, err := streams.Translate(bad.stream, "1-0", bad.values, now, ansible.Reader{})
			if !fault.IsPermanent(err) || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("err %v, want a permanent error saying %q", err, bad.want)
			}
		})
	}
}
