package bolt

import (
	"errors"
	"fmt"
	"time"
)

// FileName is the name of the database file inside Config.Dir.
const FileName = "events.db"

// Config configures a Store.
type Config struct {
	// Dir is the data directory; it is created if missing and holds FileName. Required.
	Dir string
	// LockTimeout bounds the wait for the data directory's file lock, which another process
	// holds while it has the store open. Default 1s.
	LockTimeout time.Duration
	// MaxBatch is the most Appends the committer gathers into one transaction. Default 256.
	MaxBatch int
	// PageSize is how many events a subscription reads per transaction while it catches up,
	// and the buffer of its channel. Default 256.
	PageSize int
}

func (c *Config) setDefaults() {
	if c.LockTimeout == 0 {
		c.LockTimeout = time.Second
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	if c.PageSize == 0 {
		c.PageSize = 256
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if c.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("lock timeout: %v, want positive", c.LockTimeout))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("max batch: %d, want positive", c.MaxBatch))
	}
	if c.PageSize < 0 {
		errs = append(errs, fmt.Errorf("page size: %d, want positive", c.PageSize))
	}
	return errors.Join(errs...)
}
