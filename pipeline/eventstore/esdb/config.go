package esdb

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"go.uber.org/zap"
)

// Config configures a Store.
type Config struct {
	// URL is the EventStoreDB connection string, e.g.
	// "esdb://admin:changeit@localhost:2113?tls=false". The user must be allowed to read
	// $all. Required.
	URL string
	// DedupWindow is how many of a stream's last events Append checks for IDs it already
	// holds (see the package doc). Default 128.
	DedupWindow int
	// Logger receives the client library's own log lines, at Debug. Default: none.
	Logger *zap.Logger
}

func (c *Config) setDefaults() {
	if c.DedupWindow == 0 {
		c.DedupWindow = 128
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if _, err := esdb.ParseConnectionString(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", redact(err)))
	}
	if c.DedupWindow < 0 {
		errs = append(errs, fmt.Errorf("dedup window: %d, want positive", c.DedupWindow))
	}
	return errors.Join(errs...)
}

// clientConfig is the client configuration for c, with the client's logging sent to c.Logger.
func (c Config) clientConfig() (*esdb.Configuration, error) {
	conf, err := esdb.ParseConnectionString(c.URL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", redact(err))
	}
	log := c.Logger
	conf.Logger = func(level esdb.LogLevel, format string, args ...any) {
		// The client logs routine events (a subscription ended by its context) as errors, and
		// returns every real failure to its caller anyway: its lines are debugging detail.
		log.Debug("EventStoreDB client log", zap.String("esdb_level", level), zap.String("esdb_message", fmt.Sprintf(format, args...)))
	}
	return conf, nil
}

// redact drops the connection string, which may hold a password, from a parse error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("not a valid connection string: %w", ue.Err)
	}
	return err
}
