package watch

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Watch masks. Directories report their children by name; files that are mount points report
// writes to themselves.
const (
	dirMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR |
		unix.IN_EXCL_UNLINK
	fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	// completeMask marks events that usually end a save.
	completeMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_ATTRIB
	// nameMask marks events that change which inode a name points to.
	nameMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO
	// selfMask marks events that end a watch's meaning for its path.
	selfMask = unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_UNMOUNT | unix.IN_IGNORED
)

// readBuffer holds one read of events: thousands of them.
const readBuffer = 64 << 10

// planAttempts bounds the passes of one plan while directories keep changing under it.
const planAttempts = 8

// watched is one inotify watch: a directory, or a file that is a mount point.
type watched struct {
	path     string
	file     bool
	dev, ino uint64
}

// entry names a directory entry: the directory watched and the name in it.
type entry struct{ dir, name string }

// inotify is the watcher's inotify state; only the Run goroutine touches it after New.
type inotify struct {
	paths []string
	f     *os.File
	fd    int
	buf   []byte
	once  sync.Once

	byWD   map[int32]*watched
	byPath map[string]int32
	// entries maps a directory entry to the watched paths it is (a path, or a link's target).
	entries map[entry][]string
	// links are the watched paths that were symbolic links at the last plan.
	links map[string]bool
	// needed are the directories whose entries matter: parents and link target parents.
	needed map[string]bool

	overflows, rewatches int
}

// newInotify opens an inotify instance and sets up the watches for paths.
func newInotify(paths []string) (*inotify, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	in := &inotify{
		paths: paths, fd: fd, buf: make([]byte, readBuffer),
		// A non-blocking descriptor joins Go's poller: Read parks the goroutine, Close wakes it.
		f:      os.NewFile(uintptr(fd), "inotify"),
		byWD:   map[int32]*watched{},
		byPath: map[string]int32{},
	}
	if _, err := in.plan(); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

func (in *inotify) close() { in.once.Do(func() { _ = in.f.Close() }) }

func (in *inotify) watches() int { return len(in.byWD) }

func (in *inotify) takeOverflows() int { n := in.overflows; in.overflows = 0; return n }

func (in *inotify) takeRewatches() int { n := in.rewatches; in.rewatches = 0; return n }

// rawEvent is one decoded inotify event.
type rawEvent struct {
	wd   int32
	mask uint32
	name string
}

// read waits for and decodes one batch of events.
func (in *inotify) read() ([]rawEvent, error) {
	n, err := in.f.Read(in.buf)
	if err != nil {
		return nil, err
	}
	var out []rawEvent
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		b := in.buf[off:]
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		name := ""
		if nameLen > 0 && unix.SizeofInotifyEvent+nameLen <= len(b) {
			name = strings.TrimRight(string(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+nameLen]), "\x00")
		}
		out = append(out, rawEvent{wd: wd, mask: mask, name: name})
		off += unix.SizeofInotifyEvent + nameLen
	}
	return out, nil
}

// handle turns a batch of raw events into watcher events: one per watched path touched (the
// last one decides whether the save looks complete), then the paths below any directory that
// was watched anew, then a gap if the queue overflowed.
func (in *inotify) handle(evs []rawEvent) ([]Event, error) {
	var order []string
	complete := map[string]bool{}
	touch := func(p string, c bool) {
		if _, ok := complete[p]; !ok {
			order = append(order, p)
		}
		complete[p] = c
	}
	var replan, overflow bool
	var dirty []string
	for _, ev := range evs {
		if ev.mask&unix.IN_Q_OVERFLOW != 0 {
			overflow = true
			continue
		}
		w, ok := in.byWD[ev.wd]
		if !ok {
			continue
		}
		if ev.mask&selfMask != 0 {
			// The watched directory (or file) is gone, moved or unmounted: watch its path again.
			in.remove(ev.wd)
			replan = true
			dirty = append(dirty, w.path)
			continue
		}
		if w.file {
			for _, p := range in.entries[entry{filepath.Dir(w.path), filepath.Base(w.path)}] {
				touch(p, ev.mask&(unix.IN_CLOSE_WRITE|unix.IN_ATTRIB) != 0)
			}
			continue
		}
		if ev.name == "" {
			continue
		}
		full := filepath.Join(w.path, ev.name)
		for _, p := range in.entries[entry{w.path, ev.name}] {
			touch(p, ev.mask&completeMask != 0 && ev.mask&unix.IN_ISDIR == 0)
			if ev.mask&nameMask != 0 && in.links[p] {
				replan = true
			}
		}
		if ev.mask&nameMask != 0 && (ev.mask&unix.IN_ISDIR != 0 || in.isLinkPath(full)) && in.aboveNeeded(full) {
			replan = true
			dirty = append(dirty, full)
		}
	}
	var err error
	if replan {
		var added []string
		added, err = in.plan()
		in.rewatches += len(added)
		dirty = append(dirty, added...)
	}
	for _, p := range in.pathsUnder(dirty) {
		touch(p, false)
	}
	out := make([]Event, 0, len(order)+1)
	for _, p := range order {
		out = append(out, Event{Path: p, Complete: complete[p]})
	}
	if overflow {
		in.overflows++
		out = append(out, Event{Gap: GapOverflow})
	}
	return out, err
}

// isLinkPath reports whether p is a symbolic link now: a directory may be replaced by a link.
func (in *inotify) isLinkPath(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// aboveNeeded reports whether dir is a needed directory or one of their ancestors.
func (in *inotify) aboveNeeded(dir string) bool {
	for d := range in.needed {
		if under(d, dir) {
			return true
		}
	}
	return false
}

// pathsUnder returns the watched paths whose directory (or link target's) lies at or below
// one of dirs.
func (in *inotify) pathsUnder(dirs []string) []string {
	if len(dirs) == 0 {
		return nil
	}
	var out []string
	for e, ps := range in.entries {
		for _, d := range dirs {
			if under(e.dir, d) || under(filepath.Join(e.dir, e.name), d) {
				out = append(out, ps...)
				break
			}
		}
	}
	return out
}

// under reports whether p is dir or lies below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
