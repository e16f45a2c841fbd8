package agent_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/agent"
)

func parseFile(t *testing.T, name string) (agent.Config, error) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return agent.ParseConfig(name, raw)
}

func TestParseConfigFillsTheDocumentedDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseFile(t, "agent.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.AgentID != "sim-node-01" || c.CIType != "node" || c.SnapshotInterval != 5*time.Minute ||
		c.Debounce != 20*time.Millisecond || c.StateDir != "/var/lib/driftwatch-agent" ||
		c.Credentials.KeyFile != "/var/lib/driftwatch-agent/agent.key" ||
		c.Server.Stream != "driftwatch.observations.v1" || c.Redaction.MaxTextBytes != 256<<10 {
		t.Fatalf("defaults not filled: %+v", c)
	}
	bare, err := agent.ParseConfig("bare.yaml", []byte("ci_id: n1\nserver: {http_url: 'http://127.0.0.1:8080'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bare.Paths, agent.DefaultPaths) || bare.SnapshotInterval != 15*time.Minute {
		t.Fatalf("SPEC-080 defaults not filled: %v %v", bare.Paths, bare.SnapshotInterval)
	}
}

func TestParseConfigNamesFileLineAndUnknownKey(t *testing.T) {
	t.Parallel()
	_, err := parseFile(t, "agent.bad-unknown-key.yaml")
	for _, want := range []string{`agent.bad-unknown-key.yaml:4: unknown key "htp_url"`, `agent.bad-unknown-key.yaml:5: unknown key "snapshot_intervall"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %s", err, want)
		}
	}
}

func TestParseConfigReportsEveryBadValueAtOnce(t *testing.T) {
	t.Parallel()
	_, err := parseFile(t, "agent.bad-values.yaml")
	for _, want := range []string{"ci_id:", "agent_id:", "paths[0]:", "paths[1]:", "paths[3]:", "snapshot_interval:", "settle:", "redaction.patterns[0]:", "server.redis_url:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
