package embedded

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// Defaults of Config.
const (
	// DefaultFileMode is the permission of a new bus file.
	DefaultFileMode os.FileMode = 0o600
	// DefaultOpenTimeout is how long Open waits for another process to release the file.
	DefaultOpenTimeout = time.Second
	// DefaultMaxBatch is the most Publish calls one transaction gathers.
	DefaultMaxBatch = 1000
	// DefaultMaxEntryBytes is the largest message, in wire form: 1 MiB.
	DefaultMaxEntryBytes = 1 << 20
)

// Config configures a Bus.
type Config struct {
	// Path is the bbolt file, created if missing. Required; there is no default.
	Path string
	// FileMode is the permission of a new file. Default: DefaultFileMode (0600).
	FileMode os.FileMode
	// OpenTimeout is how long Open waits for the file lock that another process (or another
	// open Bus) holds. Default: DefaultOpenTimeout (1s).
	OpenTimeout time.Duration
	// NackDelay is the pause before a nacked message is delivered again. Default: 0, at once.
	NackDelay time.Duration
	// MaxBatch is the most Publish calls gathered into one transaction.
	// Default: DefaultMaxBatch (1000).
	MaxBatch int
	// MaxEntryBytes is the largest message in wire form (field names plus values, as the redis
	// bus counts it): Publish refuses bigger ones. Default: DefaultMaxEntryBytes (1 MiB).
	MaxEntryBytes int
	// Logger receives lifecycle logs. Default: watermill.NopLogger.
	Logger watermill.LoggerAdapter
}

func (c *Config) setDefaults() {
	if c.FileMode == 0 {
		c.FileMode = DefaultFileMode
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
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
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.OpenTimeout < 0 {
		errs = append(errs, fmt.Errorf("open timeout: %s is negative", c.OpenTimeout))
	}
	if c.NackDelay < 0 {
		errs = append(errs, fmt.Errorf("nack delay: %s is negative", c.NackDelay))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("max batch: %d is negative", c.MaxBatch))
	}
	if c.MaxEntryBytes < 0 {
		errs = append(errs, fmt.Errorf("max entry bytes: %d is negative", c.MaxEntryBytes))
	}
	return errors.Join(errs...)
}
