package projections

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Config configures a Runner.
type Config struct {
	// Path is the bbolt file that holds every read model and the checkpoint, for example
	// <data-dir>/projections.db; required. Its directory is created when missing.
	Path string
	// BatchSize is the most events applied in one transaction; default 128.
	BatchSize int
	// LockTimeout bounds the wait for the file lock when another process holds the file;
	// default 5s.
	LockTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 128
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = 5 * time.Second
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch_size: %d must be at least 1", c.BatchSize))
	}
	if c.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("lock_timeout: %s must not be negative", c.LockTimeout))
	}
	return errors.Join(errs...)
}

// Deps are the runner's collaborators; all are required.
type Deps struct {
	// Store is the event store the read models are built from.
	Store eventstore.Store
	// Logger receives lifecycle lines and skipped events.
	Logger *zap.Logger
}

func (d Deps) validate() error {
	var errs []error
	if d.Store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if d.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	return errors.Join(errs...)
}
