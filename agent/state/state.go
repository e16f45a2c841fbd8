// Package state keeps, on the node, what the agent last reported: the files of its last
// observation with the observation sequence number (state.json), and the redacted text of each
// text file (text/), from which the next change's diff is computed. Only redacted text is ever
// written here. After downtime the agent compares the disk with this state to report what
// changed while it was down.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/driftwatch/driftwatch/agent/capture"
)

// State is the agent's last report.
type State struct {
	// AgentID and CIID are whom the state belongs to; a state of another agent or CI is not
	// used.
	AgentID string `json:"agent_id"`
	CIID    string `json:"ci_id"`
	// Seq is the sequence number of the last observation the agent built.
	Seq uint64 `json:"seq"`
	// Files are the watched paths as last reported.
	Files map[string]capture.File `json:"files"`
	// SavedAt is when the state was written.
	SavedAt time.Time `json:"saved_at"`
}

// Store is the state directory. Methods are not safe for concurrent use: the agent's loop
// owns it.
type Store struct {
	dir string
}

// Open returns the store in dir, creating it (mode 0700) when missing.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "text"), 0o700); err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) statePath() string { return filepath.Join(s.dir, "state.json") }

// Load reads the last saved state; found is false when there is none yet.
func (s *Store) Load() (st State, found bool, err error) {
	raw, err := os.ReadFile(s.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return State{}, false, fmt.Errorf("decode state %s: %w", s.statePath(), err)
	}
	return st, true, nil
}

// Save writes st atomically.
func (s *Store) Save(st State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return WriteFile(s.statePath(), raw, 0o600)
}

// textPath names the file that keeps the redacted text of a watched path.
func (s *Store) textPath(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(s.dir, "text", hex.EncodeToString(sum[:16])+".txt")
}

// Text returns the redacted text kept for path, or nil when none is kept.
func (s *Store) Text(path string) ([]byte, error) {
	raw, err := os.ReadFile(s.textPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read kept text of %s: %w", path, err)
	}
	return raw, nil
}

// SetText keeps the redacted text of path; nil forgets it. The text is not synced to disk: a
// text lost in a crash only costs the next diff its context.
func (s *Store) SetText(path string, text []byte) error {
	if text == nil {
		err := os.Remove(s.textPath(path))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("forget text of %s: %w", path, err)
		}
		return nil
	}
	return writeFile(s.textPath(path), text, 0o600, false)
}

// WriteFile replaces the file at path with data atomically: a synced temporary file in the
// same directory, renamed over it.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, true)
}

// writeFile replaces the file at path atomically, syncing it first when sync is set.
func writeFile(path string, data []byte, perm fs.FileMode, sync bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	var serr error
	if sync {
		serr = tmp.Sync()
	}
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp.Name(), perm)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
