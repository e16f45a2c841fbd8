package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// DefaultPaths are SPEC-080's watched configuration files.
var DefaultPaths = []string{
	"/etc/ssh/sshd_config", "/etc/hosts", "/etc/resolv.conf", "/etc/sysctl.conf",
	"/etc/sudoers", "/etc/passwd", "/etc/shadow",
}

// Config is the agent's configuration, read from YAML (see ParseConfig). Every field names
// its default.
type Config struct {
	// CIID is the configuration item this node is; required.
	CIID string `yaml:"ci_id"`
	// CIType is the CI's type; default "node".
	CIType string `yaml:"ci_type"`
	// TemplateID names the template holding the node's desired state; default none (the
	// template of the CI type is used).
	TemplateID string `yaml:"template_id"`
	// AgentID is the agent's enrolled identity; default the CI id.
	AgentID string `yaml:"agent_id"`
	// Paths are the watched files, absolute; default DefaultPaths (SPEC-080's list).
	Paths []string `yaml:"paths"`
	// SnapshotInterval is how often every path is captured and the state hash reported (the
	// template card's 5m, 15m, 30m, 1h; any duration of at least 1s); default 15m.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// Debounce is how long a path must stay quiet after an event that ends a save (a close
	// after writing, a rename into place, a chmod) before it is captured; default 20ms.
	Debounce time.Duration `yaml:"debounce"`
	// Settle is the wait after an event that starts or interrupts a save (a write still open,
	// a removal, a creation), and the extra wait before a path that just vanished or emptied
	// is reported so; default 250ms.
	Settle time.Duration `yaml:"settle"`
	// PollInterval is how often paths are checked when inotify is unavailable; default 2s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Polling forces polling instead of inotify; default false.
	Polling bool `yaml:"polling"`
	// StateDir keeps the last reported state, the spool, the keys and health.json; default
	// /var/lib/driftwatch-agent.
	StateDir string `yaml:"state_dir"`
	// Redaction configures what is never reported.
	Redaction RedactionConfig `yaml:"redaction"`
	// Server is where observations go.
	Server ServerConfig `yaml:"server"`
	// Credentials are the agent's keys.
	Credentials CredentialsConfig `yaml:"credentials"`
	// Spool bounds the offline outbox.
	Spool SpoolConfig `yaml:"spool"`
}

// RedactionConfig configures redaction.
type RedactionConfig struct {
	// HashOnly are path globs (path.Match) whose content is never read for diffs; /etc/shadow
	// is always hash-only; default ["/etc/shadow", "/etc/gshadow"].
	HashOnly []string `yaml:"hash_only"`
	// Patterns are extra regular expressions of secrets; the first capture group (or the
	// group named "secret") is masked, or the whole match without groups; default none.
	Patterns []string `yaml:"patterns"`
	// MaxTextBytes is the largest file diffed as text; larger ones are reported by hash and
	// size; default 262144 (256 KiB).
	MaxTextBytes int64 `yaml:"max_text_bytes"`
	// FingerprintKeyFile holds the node-local key of secret fingerprints, created when
	// missing; default <state_dir>/fingerprint.key.
	FingerprintKeyFile string `yaml:"fingerprint_key_file"`
}

// ServerConfig says where observations go: Redis when RedisURL is set, else HTTP.
type ServerConfig struct {
	// RedisURL is the Redis the pipeline reads (redis://, rediss://, unix://); observations
	// are XADDed to Stream; default none.
	RedisURL string `yaml:"redis_url"`
	// HTTPURL is the driftwatch API (http:// or https://): enrolment, and POST /observations
	// when RedisURL is empty; default none.
	HTTPURL string `yaml:"http_url"`
	// Stream is the observations stream; default driftwatch.observations.v1.
	Stream string `yaml:"stream"`
	// Timeout bounds one send; default 5s.
	Timeout time.Duration `yaml:"timeout"`
}

// CredentialsConfig locates the agent's key.
type CredentialsConfig struct {
	// KeyFile is the agent's Ed25519 private key (PKCS#8 PEM), created when missing; default
	// <state_dir>/agent.key.
	KeyFile string `yaml:"key_file"`
}

// SpoolConfig bounds the offline outbox.
type SpoolConfig struct {
	// MaxBytes bounds the unsent observations kept on disk; the oldest are dropped beyond it;
	// default 16 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// SetDefaults fills the documented defaults.
func (c *Config) SetDefaults() {
	if c.CIType == "" {
		c.CIType = "node"
	}
	if c.AgentID == "" {
		c.AgentID = c.CIID
	}
	if len(c.Paths) == 0 {
		c.Paths = slices.Clone(DefaultPaths)
	}
	setDuration(&c.SnapshotInterval, 15*time.Minute)
	setDuration(&c.Debounce, 20*time.Millisecond)
	setDuration(&c.Settle, 250*time.Millisecond)
	setDuration(&c.PollInterval, 2*time.Second)
	if c.StateDir == "" {
		c.StateDir = "/var/lib/driftwatch-agent"
	}
	if c.Redaction.HashOnly == nil {
		c.Redaction.HashOnly = []string{"/etc/shadow", "/etc/gshadow"}
	}
	if c.Redaction.MaxTextBytes == 0 {
		c.Redaction.MaxTextBytes = 256 << 10
	}
	if c.Redaction.FingerprintKeyFile == "" {
		c.Redaction.FingerprintKeyFile = filepath.Join(c.StateDir, "fingerprint.key")
	}
	if c.Server.Stream == "" {
		c.Server.Stream = topic.Observations
	}
	setDuration(&c.Server.Timeout, 5*time.Second)
	if c.Credentials.KeyFile == "" {
		c.Credentials.KeyFile = filepath.Join(c.StateDir, "agent.key")
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = 16 << 20
	}
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// idPattern keeps ids usable in stream names and URLs, as enrolment requires.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate reports every problem at once; each error names its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.CIID) == "" {
		bad("ci_id: required")
	}
	if !idPattern.MatchString(c.AgentID) {
		bad("agent_id: %q must be 1 to 128 letters, digits, '.', '_' or '-'", c.AgentID)
	}
	seen := map[string]bool{}
	for i, p := range c.Paths {
		switch {
		case !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/":
			bad("paths[%d]: %q must be a clean absolute file path", i, p)
		case seen[p]:
			bad("paths[%d]: %q is listed twice", i, p)
		}
		seen[p] = true
	}
	if c.SnapshotInterval < time.Second {
		bad("snapshot_interval: %s must be at least 1s", c.SnapshotInterval)
	}
	for name, d := range map[string]time.Duration{"debounce": c.Debounce, "settle": c.Settle, "poll_interval": c.PollInterval, "server.timeout": c.Server.Timeout} {
		if d <= 0 {
			bad("%s: %s must be positive", name, d)
		}
	}
	if c.Settle < c.Debounce {
		bad("settle: %s must not be shorter than debounce %s", c.Settle, c.Debounce)
	}
	if !filepath.IsAbs(c.StateDir) {
		bad("state_dir: %q must be absolute", c.StateDir)
	}
	for i, g := range c.Redaction.HashOnly {
		if _, err := path.Match(g, ""); err != nil {
			bad("redaction.hash_only[%d]: %q: %v", i, g, err)
		}
	}
	for i, p := range c.Redaction.Patterns {
		if _, err := regexp.Compile(p); err != nil {
			bad("redaction.patterns[%d]: %v", i, err)
		}
	}
	if c.Redaction.MaxTextBytes < 1 {
		bad("redaction.max_text_bytes: %d must be positive", c.Redaction.MaxTextBytes)
	}
	switch {
	case c.Server.RedisURL == "" && c.Server.HTTPURL == "":
		bad("server: set redis_url or http_url")
	case c.Server.RedisURL != "" && !hasScheme(c.Server.RedisURL, "redis", "rediss", "unix"):
		bad("server.redis_url: %q is not a redis://, rediss:// or unix:// URL", c.Server.RedisURL)
	}
	if c.Server.HTTPURL != "" && !hasScheme(c.Server.HTTPURL, "http", "https") {
		bad("server.http_url: %q is not an http:// or https:// URL", c.Server.HTTPURL)
	}
	if c.Spool.MaxBytes < 64<<10 {
		bad("spool.max_bytes: %d must be at least 65536", c.Spool.MaxBytes)
	}
	return errors.Join(errs...)
}

func hasScheme(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	return err == nil && slices.Contains(schemes, u.Scheme)
}

// yamlLine matches yaml.v3's unknown-key errors: "line 3: field foo not found in type ...".
var yamlLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// ParseConfig decodes a YAML config strictly (an unknown key is an error naming the file,
// line and key), fills the defaults and validates it. name is the file's name for errors.
func ParseConfig(name string, data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				if m := yamlLine.FindStringSubmatch(e); m != nil {
					msgs[i] = fmt.Sprintf("%s:%s: unknown key %q", name, m[1], m[2])
				} else {
					msgs[i] = fmt.Sprintf("%s: %s", name, e)
				}
			}
			return Config{}, errors.New(strings.Join(msgs, "\n"))
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}
