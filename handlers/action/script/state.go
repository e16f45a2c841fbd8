package script

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
)

// record is a successful run as StateDir keeps it.
type record struct {
	ActionID string         `json:"action_id"`
	Script   string         `json:"script"`
	Finished time.Time      `json:"finished"`
	Outcome  action.Outcome `json:"outcome"`
}

// once runs the script unless a run of the same action id already succeeded; runs of one
// action id are serialised, across processes too, by a lock file.
func (e *Executor) once(ctx context.Context, r action.Request, path string, env []string) (action.Outcome, error) {
	if r.ActionID == "" {
		return e.run(ctx, r, path, env)
	}
	if err := os.MkdirAll(e.cfg.StateDir, 0o700); err != nil {
		return action.Outcome{}, fmt.Errorf("create state dir: %w", err)
	}
	key := RunKey(r.ActionID)
	unlock, err := LockFile(ctx, filepath.Join(e.cfg.StateDir, key+".lock"))
	if err != nil {
		return action.Outcome{}, fmt.Errorf("lock action %s: %w", r.ActionID, err)
	}
	defer unlock()
	file := filepath.Join(e.cfg.StateDir, key+".json")
	if raw, err := os.ReadFile(file); err == nil {
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return action.Outcome{}, fmt.Errorf("read the record of action %s: %w", r.ActionID, err)
		}
		o := rec.Outcome
		o.Detail = fmt.Sprintf("script %s already succeeded for this action at %s; not run again (%s)",
			rec.Script, rec.Finished.Format(time.RFC3339), o.Detail)
		return o, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return action.Outcome{}, fmt.Errorf("read the record of action %s: %w", r.ActionID, err)
	}
	o, err := e.run(ctx, r, path, env)
	if err != nil {
		return o, err
	}
	raw, err := json.Marshal(record{ActionID: r.ActionID, Script: r.Target, Finished: time.Now().UTC(), Outcome: o})
	if err != nil {
		return o, fmt.Errorf("record action %s: %w", r.ActionID, err)
	}
	if err := writeAtomic(file, raw); err != nil {
		return o, fmt.Errorf("record action %s: %w", r.ActionID, err)
	}
	return o, nil
}

// writeAtomic writes data to a new file beside name and renames it over name.
func writeAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// RunKey is a file-name-safe key derived from a stable id: its letters, digits, "-" and "_"
// (at most 40, others replaced by "_"; "run" when none are left) and 12 hex digits of its
// SHA-256, so that distinct ids do not share a key.
func RunKey(id string) string {
	var b strings.Builder
	for _, c := range id {
		if b.Len() >= 40 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(id))
	prefix := strings.TrimLeft(b.String(), "_-")
	if prefix == "" {
		prefix = "run" // a key never starts with "-", so it is never read as a flag
	}
	return prefix + "-" + hex.EncodeToString(sum[:6])
}

// lockPoll is how often LockFile tries again for a lock another holder has.
const lockPoll = 50 * time.Millisecond

// LockFile takes an exclusive flock on the file name (created when missing), waiting while
// ctx allows; the returned function releases it. A flock belongs to an open file, so it
// excludes other holders in this process as well as in others.
func LockFile(ctx context.Context, name string) (func(), error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// markerWatch passes output on to w and notes whether a line was exactly UnchangedLine.
type markerWatch struct {
	w    *Bounded
	line []byte // the current line, up to one byte longer than the marker
	hit  bool
}

// Write implements io.Writer; exec calls it from one goroutine at a time.
func (m *markerWatch) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			m.check()
			m.line = m.line[:0]
			continue
		}
		if len(m.line) <= len(UnchangedLine) {
			m.line = append(m.line, c)
		}
	}
	return m.w.Write(p)
}

func (m *markerWatch) check() {
	if string(bytes.TrimSuffix(m.line, []byte("\r"))) == UnchangedLine {
		m.hit = true
	}
}

// seen reports whether the output had the marker line, the last line included.
func (m *markerWatch) seen() bool {
	m.check()
	return m.hit
}
