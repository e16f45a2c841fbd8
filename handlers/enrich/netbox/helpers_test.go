package netbox_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// newSource returns a Source over f; cfg's URL and token default to f's.
func newSource(t *testing.T, f *netboxfake.Server, cfg netbox.Config, opts ...netbox.Option) *netbox.Source {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = f.URL()
	}
	if cfg.Token == "" {
		cfg.Token = f.Token()
	}
	s, err := netbox.New(cfg, opts...)
	if err != nil {
		t.Fatalf("new source: %v", err)
	}
	return s
}

// clock is a clock the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// golden compares got, a JSON document, with testdata/name (rewritten under -update).
func golden(t *testing.T, name string, got json.RawMessage) {
	t.Helper()
	path := filepath.Join("testdata", name)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("indent %s: %v", got, err)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to write it): %v", err)
	}
	wantC, err := drift.Canonical(want)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(wantC, got) {
		t.Errorf("desired state differs from %s\n got: %s\nwant: %s", path, got, wantC)
	}
}

// member decodes the top-level member key of doc, reporting whether it is there.
func member(t *testing.T, doc json.RawMessage, key string) (any, bool) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("desired state is not an object: %v", err)
	}
	v, ok := m[key]
	return v, ok
}
