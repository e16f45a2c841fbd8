package redisbus

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/redis/go-redis/v9"
)

// Defaults of Config.
const (
	// DefaultBlockTime bounds one XREADGROUP; it is how long Close and context cancellation may
	// wait for a subscription to notice.
	DefaultBlockTime = time.Second
	// DefaultClaimInterval is how often a subscription looks for pending entries to claim.
	DefaultClaimInterval = 10 * time.Second
	// DefaultMaxIdleTime is how long an entry stays pending, unacked, before another consumer
	// of the group may claim it.
	DefaultMaxIdleTime = 30 * time.Second
	// DefaultMaxEntryBytes is the largest entry published or decoded: 1 MiB.
	DefaultMaxEntryBytes = 1 << 20
)

// Config configures a Bus.
type Config struct {
	// URL is the server's redis://, rediss:// or unix:// URL. Each subscriber gets its own
	// client (and connection pool) from it, all owned and closed by the Bus. Default: none;
	// set exactly one of URL and Client.
	URL string
	// Client is used instead of URL: the publisher and every subscriber share it, so its pool
	// must hold one connection per concurrent subscription plus the publishers. The Bus never
	// closes it. Default: nil.
	Client *redis.Client
	// Consumer is this process's consumer name in every group. It must be stable across
	// restarts and unique per process: conventionally DefaultConsumer(role), the host name,
	// "-" and the role. Required; there is no default.
	Consumer string
	// BlockTime bounds one blocking XREADGROUP. Default: DefaultBlockTime (1s).
	BlockTime time.Duration
	// ClaimInterval is how often pending entries are checked for claiming.
	// Default: DefaultClaimInterval (10s).
	ClaimInterval time.Duration
	// MaxIdleTime is how long an entry stays pending before a consumer of the group claims it
	// (a crashed consumer's, or this consumer's own after a restart). It must exceed the
	// longest handler run, or slow messages get delivered twice. Default: DefaultMaxIdleTime
	// (30s).
	MaxIdleTime time.Duration
	// NackResendDelay is the pause before a nacked message is delivered again to the same
	// subscription. Default: 0, at once.
	NackResendDelay time.Duration
	// MaxEntryBytes is the largest entry (field names plus values): Publish refuses bigger
	// messages and subscribers flag bigger entries malformed. Default: DefaultMaxEntryBytes
	// (1 MiB).
	MaxEntryBytes int
	// Logger receives watermill-redisstream's logs. Default: watermill.NopLogger.
	Logger watermill.LoggerAdapter
}

func (c *Config) setDefaults() {
	if c.BlockTime == 0 {
		c.BlockTime = DefaultBlockTime
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = DefaultClaimInterval
	}
	if c.MaxIdleTime == 0 {
		c.MaxIdleTime = DefaultMaxIdleTime
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.URL == "" && c.Client == nil:
		errs = append(errs, errors.New("url or client: one is required"))
	case c.URL != "" && c.Client != nil:
		errs = append(errs, errors.New("url and client: set only one"))
	case c.URL != "":
		if _, err := redis.ParseURL(c.URL); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
	}
	if c.Consumer == "" {
		errs = append(errs, errors.New("consumer: required (host name and role, see DefaultConsumer)"))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"block time", c.BlockTime}, {"claim interval", c.ClaimInterval},
		{"max idle time", c.MaxIdleTime}, {"nack resend delay", c.NackResendDelay},
	} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s: %s is negative", d.name, d.d))
		}
	}
	if c.MaxEntryBytes < 0 {
		errs = append(errs, fmt.Errorf("max entry bytes: %d is negative", c.MaxEntryBytes))
	}
	return errors.Join(errs...)
}

// DefaultConsumer returns the conventional consumer name of this process for role: the host
// name, "-", role. A restarted worker keeps its name, and so its place in every group; entries
// it left pending are claimed back once idle for MaxIdleTime.
func DefaultConsumer(role string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("consumer name for %s: %w", role, err)
	}
	return host + "-" + role, nil
}
