package agent

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/agent/watch"
)

// Why a snapshot was taken, as counted in health's "snapshots_by_reason": the watcher's gaps
// (watch.GapOverflow, watch.GapPolling) and these.
const (
	// GapStart: the first start, without a state from before.
	GapStart = "start"
	// GapDowntime: a start after downtime; what changed meanwhile is reported with diffs.
	GapDowntime = "downtime"
	// GapInterval: the periodic snapshot.
	GapInterval = "interval"
)

// Source is the observations' source.
const Source = "agent"

// detailBudget bounds the details of one observation, keeping it well within the bus's 1 MiB
// entry limit; the diffs beyond it are replaced by a marker.
const detailBudget = 256 << 10

// pending is a path waiting for its save to end.
type pending struct {
	gen      uint64
	timer    *time.Timer
	extended bool
}

// due says a path's wait is over, unless a newer event (gen) came meanwhile.
type due struct {
	path string
	gen  uint64
}

// schedule (re)starts a path's wait: short after an event that ends a save, longer after one
// that starts or interrupts it.
func (a *Agent) schedule(ctx context.Context, ev watch.Event) {
	delay := a.cfg.Settle
	if ev.Complete {
		delay = a.cfg.Debounce
	}
	p, ok := a.pending[ev.Path]
	if !ok {
		p = &pending{}
		a.pending[ev.Path] = p
		a.countPending()
	}
	a.arm(ctx, ev.Path, p, delay)
}

// countPending tells the health how many paths wait for their save to end.
func (a *Agent) countPending() {
	a.mu.Lock()
	a.status.pending = len(a.pending)
	a.mu.Unlock()
}

// arm starts p's timer anew under a new generation.
func (a *Agent) arm(ctx context.Context, path string, p *pending, delay time.Duration) {
	p.gen++
	gen := p.gen
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(delay, func() {
		select {
		case a.due <- due{path: path, gen: gen}:
		case <-ctx.Done():
		}
	})
}

// cancelPending drops every wait: a snapshot covers them.
func (a *Agent) cancelPending() {
	for path, p := range a.pending {
		p.timer.Stop()
		delete(a.pending, path)
	}
	a.countPending()
}

// fire captures a path whose wait is over and reports it if it changed. A path that vanished
// or emptied is given one more settle period first: a remove-and-recreate or a
// truncate-and-write is one save, not two.
func (a *Agent) fire(ctx context.Context, d due) {
	p, ok := a.pending[d.path]
	if !ok || p.gen != d.gen {
		return
	}
	res, err := capture.Capture(d.path, a.opts)
	if err != nil {
		delete(a.pending, d.path)
		a.countPending()
		a.fail("capture "+d.path, err)
		return
	}
	if !p.extended && vanishing(a.files[d.path], res.File) {
		p.extended = true
		a.arm(ctx, d.path, p, a.cfg.Settle)
		return
	}
	a.report(d.path, res)
	// Counted after the report, so that a pending count of 0 means the report is spooled.
	delete(a.pending, d.path)
	a.countPending()
}

// vanishing reports whether a present file just disappeared or lost its content.
func vanishing(old, new capture.File) bool {
	if old.Kind == "" || old.Kind == capture.KindAbsent {
		return false
	}
	return new.Kind == capture.KindAbsent || (new.Size == 0 && old.Size > 0)
}

// report sends the observation of one saved path: the whole state, scoped to that path, with
// its diff.
func (a *Agent) report(path string, res capture.Result) {
	old, ok := a.files[path]
	if !ok {
		old = capture.Absent
	}
	if old == res.File {
		return
	}
	detail := capture.Detail(path, old, res.File, a.keptText(path, old), res.Text)
	a.files[path] = res.File
	ptr := Pointer(path)
	if err := a.publish([]string{ptr}, map[string]string{ptr: detail}); err != nil {
		a.files[path] = old
		a.fail("publish "+path, err)
		return
	}
	a.keep(path, res.Text)
	a.save()
}

// snapshot captures every path and sends the whole state, unscoped, with the diffs of the
// paths that changed since they were last reported.
func (a *Agent) snapshot(reason string) {
	files := make(map[string]capture.File, len(a.cfg.Paths))
	texts := map[string][]byte{}
	details := map[string]string{}
	spent := 0
	for _, p := range a.cfg.Paths {
		res, err := capture.Capture(p, a.opts)
		if err != nil {
			a.fail("capture "+p, err)
			res.File = a.files[p]
			if res.File.Kind == "" {
				res.File = capture.Absent
			}
			files[p] = res.File
			continue
		}
		files[p] = res.File
		old, ok := a.files[p]
		if ok && old == res.File {
			continue
		}
		texts[p] = res.Text
		if !ok {
			// The first scan: nothing to compare with.
			continue
		}
		detail := capture.Detail(p, old, res.File, a.keptText(p, old), res.Text)
		if spent+len(detail) > detailBudget {
			detail = fmt.Sprintf("[detail omitted: the observation's %d-byte detail budget is spent]", detailBudget)
		}
		spent += len(detail)
		details[Pointer(p)] = detail
	}
	prev := a.files
	a.files = files
	if err := a.publish(nil, details); err != nil {
		a.files = prev
		a.fail("publish snapshot", err)
		return
	}
	for p, text := range texts {
		a.keep(p, text)
	}
	a.save()
	a.mu.Lock()
	a.status.gaps[reason]++
	a.status.snapshots++
	a.mu.Unlock()
	a.log.Info("Snapshot reported", zap.String("ci_id", a.cfg.CIID), zap.String("reason", reason),
		zap.Int("paths", len(files)), zap.Int("changed", len(details)))
}
