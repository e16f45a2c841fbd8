// Package watch tells the agent which watched paths may have changed. It watches the parent
// directories of the paths with inotify, not the files, so that every way of saving is seen:
// rename over (vim, mv, sed -i), truncate and write, cp over, chmod and chown, remove and
// recreate, a whole directory replaced. Files that are mount points (Docker's bind-mounted
// /etc/hosts and /etc/resolv.conf) get a watch of their own, because their parent directory
// never hears of writes to them; a symbolic link's target directory is watched too.
//
// Watches follow the directories: a missing directory is waited for on its nearest existing
// ancestor, a removed, moved or replaced one is watched again by path, and every path below
// a newly watched directory is reported, since its events before the watch are lost. When the
// kernel drops events (IN_Q_OVERFLOW) the watcher reports a gap, and the agent rescans. When
// inotify cannot be used (the watch limit, ENOSPC, or the instance limit) the watcher polls
// instead, and says so in its health.
package watch

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Mode is how the watcher notices changes.
type Mode string

// Modes of the watcher.
const (
	ModeInotify Mode = "inotify"
	ModePolling Mode = "polling"
)

// Gap reasons: why events were lost and every path must be captured again.
const (
	GapOverflow = "inotify_queue_overflow"
	GapPolling  = "degraded_to_polling"
)

// Event says that a watched path may have changed, or that events were lost.
type Event struct {
	// Path is the watched path; empty for a gap.
	Path string
	// Complete is set when the event looks like the end of a save (close after write, moved
	// into place, attributes changed): the agent waits less before capturing.
	Complete bool
	// Gap, when set, says events were lost: every path must be captured again.
	Gap string
}

// Health describes the watcher.
type Health struct {
	Mode Mode `json:"mode"`
	// Reason says why the watcher polls; empty under inotify.
	Reason string `json:"reason,omitempty"`
	// Watches is the number of inotify watches held.
	Watches int `json:"watches"`
	// Overflows counts inotify queue overflows; Rewatches directories watched again.
	Overflows int `json:"overflows"`
	Rewatches int `json:"rewatches"`
}

// Config configures a Watcher.
type Config struct {
	// Paths are the absolute paths to watch; required.
	Paths []string
	// PollInterval is how often paths are checked when polling; default 2s.
	PollInterval time.Duration
	// Polling forces polling (file systems without inotify); default false.
	Polling bool
	// Logger receives mode changes; required.
	Logger *zap.Logger
}

func (c *Config) setDefaults() {
	if c.PollInterval == 0 {
		c.PollInterval = 2 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Paths) == 0 {
		errs = append(errs, errors.New("paths: at least one required"))
	}
	for i, p := range c.Paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
			errs = append(errs, fmt.Errorf("paths[%d]: %q must be a clean absolute file path", i, p))
		}
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: %s must be positive", c.PollInterval))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger: required"))
	}
	return errors.Join(errs...)
}

// eventBuffer is how many events wait for the agent before the watcher blocks (and the
// kernel queue, then, overflows into a gap).
const eventBuffer = 4096

// Watcher reports possible changes of the watched paths on Events. New sets the watches up;
// Run delivers events until its context ends. Health is safe for concurrent use.
type Watcher struct {
	cfg    Config
	log    *zap.Logger
	events chan Event

	mu     sync.Mutex
	health Health

	in *inotify // nil when polling
}

// New validates cfg and sets up the watches, so that a capture made after New returns misses
// no change. It falls back to polling when inotify cannot be used.
func New(cfg Config) (*Watcher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new watcher: %w", err)
	}
	cfg.Paths = slices.Clone(cfg.Paths)
	w := &Watcher{cfg: cfg, log: cfg.Logger, events: make(chan Event, eventBuffer)}
	if cfg.Polling {
		w.degrade("polling is configured")
		return w, nil
	}
	in, err := newInotify(cfg.Paths)
	if err != nil {
		if !degradable(err) {
			return nil, fmt.Errorf("new watcher: %w", err)
		}
		w.degrade(reason(err))
		return w, nil
	}
	w.in = in
	w.health = Health{Mode: ModeInotify, Watches: in.watches()}
	return w, nil
}

// Events delivers the watcher's events.
func (w *Watcher) Events() <-chan Event { return w.events }

// Health returns the watcher's current health.
func (w *Watcher) Health() Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.health
}

// degrade switches the health to polling.
func (w *Watcher) degrade(why string) {
	w.mu.Lock()
	w.health = Health{Mode: ModePolling, Reason: why, Overflows: w.health.Overflows, Rewatches: w.health.Rewatches}
	w.mu.Unlock()
	w.log.Warn("Watching by polling", zap.String("reason", why), zap.Duration("interval", w.cfg.PollInterval))
}

func (w *Watcher) update(fn func(h *Health)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn(&w.health)
}
