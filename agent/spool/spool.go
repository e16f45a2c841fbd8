// Package spool is the agent's bounded outbox on disk: every observation is appended (and
// synced) before it is sent, and removed once the server has it, so observations survive an
// unreachable server and agent restarts and are sent in order. When the spool would outgrow
// its bound the oldest entries are dropped: every observation carries the full state, so the
// newest ones still bring the server up to date.
//
// The file holds one JSON document per line; a torn last line (a crash mid-append) is
// ignored. The position of the first unsent entry is kept beside it, so a restart resends at
// most the entry that was in flight, which the server drops by its id.
package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/driftwatch/driftwatch/agent/state"
)

// Spool is a bounded FIFO of JSON documents in a file. It is not safe for concurrent use.
type Spool struct {
	path     string
	maxBytes int64
	f        *os.File
	entries  [][]byte // unsent entries, oldest first
	offsets  []int64  // file offset of each entry
	first    uint64   // the number of entries[0]: entries are numbered as appended
	bytes    int64    // total size of entries, newlines included
	end      int64    // file size
	dropped  int
}

// Open opens (or creates) the spool file at path, bounded to maxBytes of unsent entries.
func Open(path string, maxBytes int64) (*Spool, error) {
	if maxBytes < 1 {
		return nil, fmt.Errorf("open spool %s: max bytes %d must be positive", path, maxBytes)
	}
	s := &Spool{path: path, maxBytes: maxBytes}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return s, nil
}

func (s *Spool) headPath() string { return s.path + ".head" }

// load reads the unsent entries after the saved head.
func (s *Spool) load() error {
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.f = f
	head := s.readHead()
	r := bufio.NewReader(f)
	var off int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A line without its newline is a torn append: cut it off.
			if err := f.Truncate(off); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return err
		}
		doc := bytes.TrimSuffix(line, []byte("\n"))
		if off >= head && json.Valid(doc) {
			s.entries = append(s.entries, doc)
			s.offsets = append(s.offsets, off)
			s.bytes += int64(len(line))
		}
		off += int64(len(line))
	}
	s.end = off
	return nil
}

// readHead returns the saved offset of the first unsent entry; 0 when none is saved.
func (s *Spool) readHead() int64 {
	raw, err := os.ReadFile(s.headPath())
	if err != nil || len(raw) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(raw))
}

// Append adds doc (one JSON document without newlines) and syncs the file. It returns how many
// of the oldest entries were dropped to stay within the bound.
func (s *Spool) Append(doc []byte) (dropped int, err error) {
	if !json.Valid(doc) || bytes.IndexByte(doc, '\n') >= 0 {
		return 0, errors.New("spool append: not a one-line JSON document")
	}
	size := int64(len(doc)) + 1
	if size > s.maxBytes {
		return 0, fmt.Errorf("spool append: the document is %d bytes, over the spool's bound of %d", size, s.maxBytes)
	}
	for s.bytes+size > s.maxBytes {
		s.bytes -= int64(len(s.entries[0])) + 1
		s.entries, s.offsets = s.entries[1:], s.offsets[1:]
		s.first++
		dropped++
	}
	if dropped > 0 {
		s.dropped += dropped
		if err := s.compact(); err != nil {
			return dropped, err
		}
	}
	line := append(append(make([]byte, 0, size), doc...), '\n')
	if _, err := s.f.Write(line); err != nil {
		return dropped, fmt.Errorf("spool append: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return dropped, fmt.Errorf("spool append: %w", err)
	}
	s.entries = append(s.entries, doc)
	s.offsets = append(s.offsets, s.end)
	s.end += size
	s.bytes += size
	return dropped, nil
}

// Peek returns the oldest unsent entry and its number, for Done.
func (s *Spool) Peek() (doc []byte, n uint64, ok bool) {
	if len(s.entries) == 0 {
		return nil, 0, false
	}
	return s.entries[0], s.first, true
}

// Done removes entry n, the oldest, once it was sent. It does nothing when n is no longer the
// oldest: the bound dropped it while it was being sent.
func (s *Spool) Done(n uint64) error {
	if len(s.entries) == 0 || n != s.first {
		return nil
	}
	return s.Pop()
}

// Pop removes the oldest entry. When the spool is empty the file is cut to nothing; otherwise
// the new head is saved.
func (s *Spool) Pop() error {
	if len(s.entries) == 0 {
		return nil
	}
	s.bytes -= int64(len(s.entries[0])) + 1
	s.entries, s.offsets = s.entries[1:], s.offsets[1:]
	s.first++
	if len(s.entries) == 0 {
		return s.reset()
	}
	if s.offsets[0] > s.maxBytes {
		// Sent entries take more room than the bound: drop them from the file.
		return s.compact()
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(s.offsets[0]))
	return state.WriteFile(s.headPath(), buf[:], 0o600)
}

// reset empties the file and forgets the head.
func (s *Spool) reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("spool reset: %w", err)
	}
	s.end = 0
	if err := os.Remove(s.headPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool reset: %w", err)
	}
	return nil
}

// compact rewrites the file with the unsent entries only.
func (s *Spool) compact() error {
	var buf bytes.Buffer
	offsets := make([]int64, len(s.entries))
	for i, e := range s.entries {
		offsets[i] = int64(buf.Len())
		buf.Write(e)
		buf.WriteByte('\n')
	}
	if err := state.WriteFile(s.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("spool compact: %w", err)
	}
	if err := os.Remove(s.headPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool compact: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool compact: %w", err)
	}
	_ = s.f.Close()
	s.f, s.offsets, s.end = f, offsets, int64(buf.Len())
	return nil
}

// Len returns how many entries are unsent.
func (s *Spool) Len() int { return len(s.entries) }

// Bytes returns the size of the unsent entries.
func (s *Spool) Bytes() int64 { return s.bytes }

// Dropped returns how many entries were dropped to stay within the bound since Open.
func (s *Spool) Dropped() int { return s.dropped }

// Close closes the file; unsent entries stay in it for the next Open.
func (s *Spool) Close() error { return s.f.Close() }
