package embedded

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Config configures a Bus.
type Config struct {
	// Store is the event store the bus appends to and follows; required.
	Store eventstore.Store
	// Path is the bbolt file of the consumer groups' checkpoints; required. Its directory
	// is created when missing.
	Path string
	// MaxInFlight is how many messages a group reads ahead of their acks; default 256.
	MaxInFlight int
	// CheckpointInterval is how often acked positions are persisted; default 100ms. A crash
	// redelivers at most what was acked within it.
	CheckpointInterval time.Duration
	// NackDelay is the pause before a nacked message goes out again; default 0.
	NackDelay time.Duration
	// LockTimeout bounds the wait for the checkpoint file's lock; default 1s.
	LockTimeout time.Duration
	// Logger receives lifecycle lines; default watermill.NopLogger.
	Logger watermill.LoggerAdapter
}

func (c *Config) setDefaults() {
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = 100 * time.Millisecond
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("max in flight: %d must be at least 1", c.MaxInFlight))
	}
	if c.CheckpointInterval < 0 {
		errs = append(errs, fmt.Errorf("checkpoint interval: %s must not be negative", c.CheckpointInterval))
	}
	if c.NackDelay < 0 {
		errs = append(errs, fmt.Errorf("nack delay: %s must not be negative", c.NackDelay))
	}
	if c.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("lock timeout: %s must not be negative", c.LockTimeout))
	}
	return errors.Join(errs...)
}
