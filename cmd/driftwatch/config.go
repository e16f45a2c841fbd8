package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// config is what the command line and the environment say; flags win over the environment.
type config struct {
	// DataDir holds the embedded event store, the embedded bus and the read models; default
	// ./driftwatch-data ($DRIFTWATCH_DATA_DIR).
	DataDir string
	// RedisURL switches the bus to Redis Streams ($DRIFTWATCH_REDIS_URL); default: embedded.
	RedisURL string
	// EventStoreURL switches the event store to EventStoreDB, an esdb:// connection string
	// ($DRIFTWATCH_EVENTSTORE_URL); default: embedded.
	EventStoreURL string
	// HTTPAddr is the API's listen address; default 127.0.0.1:8080 ($DRIFTWATCH_HTTP).
	HTTPAddr string
	// Consumer is this process's stable Redis consumer name; default host name and role.
	Consumer string
	// Stages lists the stages serve runs: "all" (default), "none", or a comma-separated list.
	Stages string
	// LogLevel is debug, info (default), warn or error ($DRIFTWATCH_LOG_LEVEL).
	LogLevel string
	// DockerHost is the Docker daemon that the Docker source watches and the action stage
	// acts on, such as unix:///var/run/docker.sock ($DRIFTWATCH_DOCKER_HOST); default empty:
	// no Docker source, and container actions fail.
	DockerHost string
	// DockerSelector is a comma-separated list of label requirements ("key" or "key=value")
	// that containers labelled as CIs must also meet to be watched and acted on
	// ($DRIFTWATCH_DOCKER_SELECTOR); default none.
	DockerSelector string
	// QuarantineNetwork is the network quarantined containers keep, created when missing
	// ($DRIFTWATCH_QUARANTINE_NETWORK); default driftwatch-quarantine.
	QuarantineNetwork string
	// UnchangedEvery is how often, at most, an observation that repeats a CI's state is
	// recorded ($DRIFTWATCH_UNCHANGED_EVERY); default 1m, negative records every one.
	UnchangedEvery time.Duration
	// RedisClaimIdle is how long an entry stays with a consumer that does not acknowledge it
	// before another consumer of its group takes it over ($DRIFTWATCH_REDIS_CLAIM_IDLE);
	// default 30s. It is how soon the work of a crashed worker resumes elsewhere.
	RedisClaimIdle time.Duration
	// RedisTrimInterval is how often the Redis streams are trimmed of what every group has
	// acknowledged ($DRIFTWATCH_REDIS_TRIM_INTERVAL); default 10s, negative: never.
	RedisTrimInterval time.Duration
	// NetBoxURL, when set, makes NetBox a desired-state source ($DRIFTWATCH_NETBOX_URL), ahead
	// of templates; its token comes from $DRIFTWATCH_NETBOX_TOKEN and the webhooks' shared
	// secret from $DRIFTWATCH_NETBOX_WEBHOOK_SECRET (never from flags, which ps shows).
	NetBoxURL string
	// NetBoxCacheTTL is how long a CI's desired state from NetBox is served from the cache
	// ($DRIFTWATCH_NETBOX_CACHE_TTL); default 60s. Webhooks and the change log invalidate it
	// sooner.
	NetBoxCacheTTL time.Duration
	// NetBoxChangesEvery is how often serve reads NetBox's change log
	// ($DRIFTWATCH_NETBOX_CHANGES_EVERY); default 30s.
	NetBoxChangesEvery time.Duration
	// TemplatesDir, when set, is a directory (a Git checkout) of desired-state files, ahead
	// of the API's templates and behind NetBox ($DRIFTWATCH_TEMPLATES_DIR); TemplatesEvery is
	// how often it is read again for changes ($DRIFTWATCH_TEMPLATES_EVERY, default 2s).
	TemplatesDir   string
	TemplatesEvery time.Duration
	// ComplianceRules is a YAML file of compliance rules evaluated over Ansible facts
	// ($DRIFTWATCH_COMPLIANCE_RULES; deploy/ansible/compliance.yaml is an example); empty:
	// none.
	ComplianceRules string
	// ExpectedInterval is the longest a CI may go without an observation and still count as
	// verified ($DRIFTWATCH_EXPECTED_INTERVAL); default 15m. Keep it above the agents'
	// snapshot interval and --unchanged-every.
	ExpectedInterval time.Duration
	// NotifyConfig is the notification config file, YAML or JSON ($DRIFTWATCH_NOTIFY_CONFIG);
	// default none: serve runs no notify stage.
	NotifyConfig string
	// PprofAddr, when set, serves net/http/pprof on this address ($DRIFTWATCH_PPROF), so that
	// a running server can be profiled; default off.
	PprofAddr string
	// Remediation is how the action stage runs playbooks and scripts and opens tickets.
	Remediation remediationConfig
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parseFlags reads the flags of serve (withHTTP) or worker over the environment's defaults
// and validates them, in one call without the command line's help and usage handling (see
// runEngine): for tests of the flags.
func parseFlags(name string, args []string, withHTTP bool) (config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := engineFlags(fs, withHTTP)
	if err != nil {
		return config{}, nil, err
	}
	if err := fs.Parse(args); err != nil {
		return *c, nil, err
	}
	return *c, fs.Args(), c.validate()
}

// engineFlags defines the flags of serve (withHTTP) and worker on fs, over the environment's
// defaults; the config is filled in when fs is parsed. It fails on a bad environment value.
func engineFlags(fs *flag.FlagSet, withHTTP bool) (*config, error) {
	c := &config{}
	fs.StringVar(&c.DataDir, "data-dir", env("DRIFTWATCH_DATA_DIR", "./driftwatch-data"), "data directory of the embedded engines and read models")
	fs.StringVar(&c.RedisURL, "redis", env("DRIFTWATCH_REDIS_URL", ""), "Redis URL (redis://host:port/db); empty: the embedded bus")
	fs.StringVar(&c.EventStoreURL, "eventstore", env("DRIFTWATCH_EVENTSTORE_URL", ""), "EventStoreDB connection string (esdb://...); empty: the embedded store")
	fs.StringVar(&c.Consumer, "consumer", env("DRIFTWATCH_CONSUMER", ""), "Redis consumer name; default host name and role")
	fs.StringVar(&c.LogLevel, "log-level", env("DRIFTWATCH_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&c.DockerHost, "docker-host", env("DRIFTWATCH_DOCKER_HOST", ""), "Docker daemon to watch and act on (unix:///var/run/docker.sock); empty: none")
	fs.StringVar(&c.DockerSelector, "docker-selector", env("DRIFTWATCH_DOCKER_SELECTOR", ""), "label requirements (key or key=value, comma-separated) for watched containers")
	fs.StringVar(&c.QuarantineNetwork, "quarantine-network", env("DRIFTWATCH_QUARANTINE_NETWORK", "driftwatch-quarantine"), "network that quarantined containers keep")
	every, err := time.ParseDuration(env("DRIFTWATCH_UNCHANGED_EVERY", "1m"))
	if err != nil {
		return nil, fmt.Errorf("DRIFTWATCH_UNCHANGED_EVERY: %w", err)
	}
	fs.DurationVar(&c.UnchangedEvery, "unchanged-every", every, "record an observation that repeats a CI's state at most this often (negative: every one)")
	claimIdle, err := time.ParseDuration(env("DRIFTWATCH_REDIS_CLAIM_IDLE", "30s"))
	if err != nil {
		return nil, fmt.Errorf("DRIFTWATCH_REDIS_CLAIM_IDLE: %w", err)
	}
	fs.DurationVar(&c.RedisClaimIdle, "redis-claim-idle", claimIdle, "take over a Redis entry another consumer has held unacknowledged this long")
	trim, err := time.ParseDuration(env("DRIFTWATCH_REDIS_TRIM_INTERVAL", "10s"))
	if err != nil {
		return nil, fmt.Errorf("DRIFTWATCH_REDIS_TRIM_INTERVAL: %w", err)
	}
	fs.DurationVar(&c.RedisTrimInterval, "redis-trim-interval", trim, "trim Redis streams of entries every group acknowledged this often (negative: never)")
	fs.StringVar(&c.TemplatesDir, "templates-dir", env("DRIFTWATCH_TEMPLATES_DIR", ""), "directory (a Git checkout) of JSON/YAML desired-state files, followed for changes; empty: none")
	fs.StringVar(&c.ComplianceRules, "compliance-rules", env("DRIFTWATCH_COMPLIANCE_RULES", ""), "YAML file of compliance rules over Ansible facts (deploy/ansible/compliance.yaml); empty: none")
	fs.StringVar(&c.NetBoxURL, "netbox-url", env("DRIFTWATCH_NETBOX_URL", ""), "NetBox base URL: desired state from NetBox (token in $DRIFTWATCH_NETBOX_TOKEN); empty: none")
	for _, d := range []struct {
		into       *time.Duration
		flag, env  string
		def, usage string
	}{
		{&c.TemplatesEvery, "templates-every", "DRIFTWATCH_TEMPLATES_EVERY", "2s", "how often --templates-dir is read again for changes"},
		{&c.NetBoxCacheTTL, "netbox-cache-ttl", "DRIFTWATCH_NETBOX_CACHE_TTL", "60s", "how long a CI's desired state from NetBox is cached"},
		{&c.NetBoxChangesEvery, "netbox-changes-every", "DRIFTWATCH_NETBOX_CHANGES_EVERY", "30s", "how often NetBox's change log is read (catches up webhooks lost while down)"},
	} {
		v, err := time.ParseDuration(env(d.env, d.def))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.env, err)
		}
		fs.DurationVar(d.into, d.flag, v, d.usage)
	}
	fs.StringVar(&c.NotifyConfig, "notify-config", env("DRIFTWATCH_NOTIFY_CONFIG", ""), "notification config (YAML or JSON): receivers, routes, the variables holding secrets; empty: no notify stage")
	if err := remediationFlags(fs, &c.Remediation); err != nil {
		return nil, err
	}
	fs.StringVar(&c.PprofAddr, "pprof", env("DRIFTWATCH_PPROF", ""), "serve net/http/pprof on this address (127.0.0.1:6060); empty: off")
	if withHTTP {
		expected, err := time.ParseDuration(env("DRIFTWATCH_EXPECTED_INTERVAL", "15m"))
		if err != nil {
			return nil, fmt.Errorf("DRIFTWATCH_EXPECTED_INTERVAL: %w", err)
		}
		fs.DurationVar(&c.ExpectedInterval, "expected-interval", expected, "a CI without an observation for longer is stale, not in sync (coverage)")
		fs.StringVar(&c.HTTPAddr, "http", env("DRIFTWATCH_HTTP", "127.0.0.1:8080"), "HTTP API listen address")
		fs.StringVar(&c.Stages, "stages", env("DRIFTWATCH_STAGES", "all"), `stages to run in this process: "all", "none" or a comma-separated list`)
	}
	return c, nil
}

func (c config) validate() error {
	var errs []error
	if c.DataDir == "" && (c.RedisURL == "" || c.EventStoreURL == "") {
		errs = append(errs, errors.New("--data-dir: required with an embedded engine"))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") && !strings.HasPrefix(c.RedisURL, "unix://") {
		errs = append(errs, fmt.Errorf("--redis: %q is not a redis:// URL", c.RedisURL))
	}
	if c.EventStoreURL != "" && !strings.HasPrefix(c.EventStoreURL, "esdb://") && !strings.HasPrefix(c.EventStoreURL, "esdb+discover://") && !strings.HasPrefix(c.EventStoreURL, "kurrentdb://") {
		errs = append(errs, fmt.Errorf("--eventstore: %q is not an esdb:// connection string", c.EventStoreURL))
	}
	if c.DockerHost != "" && !strings.HasPrefix(c.DockerHost, "unix://") && !strings.HasPrefix(c.DockerHost, "tcp://") && !strings.HasPrefix(c.DockerHost, "npipe://") {
		errs = append(errs, fmt.Errorf("--docker-host: %q is not a unix://, tcp:// or npipe:// address", c.DockerHost))
	}
	for _, s := range strings.Split(c.DockerSelector, ",") {
		if k, _, _ := strings.Cut(s, "="); strings.TrimSpace(s) != "" && strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("--docker-selector: %q must be key or key=value", s))
		}
	}
	if c.RedisClaimIdle <= 0 {
		errs = append(errs, fmt.Errorf("--redis-claim-idle: %v must be positive", c.RedisClaimIdle))
	}
	if c.QuarantineNetwork == "" {
		errs = append(errs, errors.New("--quarantine-network: must not be empty"))
	}
	if err := c.Remediation.validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// stageList turns --stages into stage names; nil means none.
func (c config) stageList() []string {
	switch c.Stages {
	case "", "all":
		if c.NotifyConfig == "" {
			// Notifications are opt-in: they need receivers.
			return without(stageNames(), "notify")
		}
		return stageNames()
	case "none":
		return nil
	}
	return strings.Split(c.Stages, ",")
}
