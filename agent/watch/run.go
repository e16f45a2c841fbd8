package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/driftwatch/driftwatch/agent/capture"
)

// Run delivers events until ctx ends (it returns nil then) or reading inotify fails. When
// inotify stops being usable it switches to polling, after a GapPolling event.
func (w *Watcher) Run(ctx context.Context) error {
	if w.in != nil {
		err := w.runInotify(ctx)
		w.in.close()
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if !degradable(err) {
			return err
		}
		w.in = nil
		w.degrade(reason(err))
		if !w.send(ctx, Event{Gap: GapPolling}) {
			return nil
		}
	}
	return w.poll(ctx)
}

// runInotify reads and handles inotify events until ctx ends.
func (w *Watcher) runInotify(ctx context.Context) error {
	stop := context.AfterFunc(ctx, w.in.close)
	defer stop()
	for {
		evs, err := w.in.read()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read inotify events: %w", err)
		}
		out, err := w.in.handle(evs)
		w.update(func(h *Health) {
			h.Watches = w.in.watches()
			h.Overflows += w.in.takeOverflows()
			h.Rewatches += w.in.takeRewatches()
		})
		for _, e := range out {
			if !w.send(ctx, e) {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// send delivers e unless ctx ends first.
func (w *Watcher) send(ctx context.Context, e Event) bool {
	select {
	case w.events <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// poll compares every path's stamp each interval and reports those that changed.
func (w *Watcher) poll(ctx context.Context) error {
	stamps := make(map[string]capture.Stamp, len(w.cfg.Paths))
	for _, p := range w.cfg.Paths {
		stamps[p] = capture.Stat(p)
	}
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, p := range w.cfg.Paths {
			s := capture.Stat(p)
			if s == stamps[p] {
				continue
			}
			stamps[p] = s
			if !w.send(ctx, Event{Path: p, Complete: true}) {
				return nil
			}
		}
	}
}

// degradable reports whether err means inotify cannot be used here, so that polling must do.
func degradable(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, os.ErrPermission)
}

// reason explains a degradable error for the health.
func reason(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "inotify watch limit reached (ENOSPC): raise fs.inotify.max_user_watches"
	case errors.Is(err, syscall.EMFILE):
		return "inotify instance limit reached (EMFILE): raise fs.inotify.max_user_instances"
	}
	return fmt.Sprintf("inotify unavailable: %v", err)
}
