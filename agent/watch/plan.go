package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// plan works out which watches the paths need now and adds and removes watches to match. It
// returns the directories (or files) it started watching. It plans again after every pass
// that added a watch: a directory created between a pass's stat and its watch on the parent
// sent its event before the watch existed, and only a fresh look finds it.
func (in *inotify) plan() ([]string, error) {
	var added []string
	for attempt := 1; ; attempt++ {
		more, retry, err := in.planOnce()
		added = append(added, more...)
		if err != nil || (!retry && len(more) == 0) {
			return added, err
		}
		if attempt == planAttempts {
			// Directories keep changing; the next event on an ancestor plans again.
			return added, nil
		}
	}
}

// planOnce is one planning pass; retry is set when a watch could not be added because its
// path vanished meanwhile.
func (in *inotify) planOnce() (added []string, retry bool, err error) {
	mounts := mountPoints()
	entries := map[entry][]string{}
	links := map[string]bool{}
	needed := map[string]bool{}
	want := map[string]bool{} // path -> is a file watch
	for _, p := range in.paths {
		e := entry{filepath.Dir(p), filepath.Base(p)}
		entries[e] = append(entries[e], p)
		needed[e.dir] = true
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			links[p] = true
			if t, err := filepath.EvalSymlinks(p); err == nil && t != p {
				te := entry{filepath.Dir(t), filepath.Base(t)}
				entries[te] = append(entries[te], p)
				needed[te.dir] = true
				if mounts[t] {
					want[t] = true
				}
			}
		}
		if mounts[p] {
			want[p] = true
		}
	}
	for d := range needed {
		want[nearestDir(d)] = false
	}
	in.entries, in.links, in.needed = entries, links, needed
	for path, wd := range in.byPath {
		file, ok := want[path]
		if !ok || file != in.byWD[wd].file || in.stale(in.byWD[wd]) {
			in.remove(wd)
		}
	}
	for path, file := range want {
		if _, ok := in.byPath[path]; ok {
			continue
		}
		switch err := in.add(path, file); {
		case err == nil:
			added = append(added, path)
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR):
			retry = true
		default:
			return added, false, err
		}
	}
	return added, retry, nil
}

// add watches path.
func (in *inotify) add(path string, file bool) error {
	mask := uint32(dirMask)
	if file {
		mask = fileMask
	}
	wd, err := unix.InotifyAddWatch(in.fd, path, mask)
	if err != nil {
		return fmt.Errorf("inotify_add_watch %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		_, _ = unix.InotifyRmWatch(in.fd, uint32(wd))
		return fmt.Errorf("stat %s: %w", path, err)
	}
	w := &watched{path: path, file: file, dev: st.Dev, ino: st.Ino}
	in.byWD[int32(wd)] = w
	in.byPath[path] = int32(wd)
	return nil
}

// remove drops a watch.
func (in *inotify) remove(wd int32) {
	if w, ok := in.byWD[wd]; ok {
		delete(in.byPath, w.path)
		delete(in.byWD, wd)
	}
	// The watch may be gone already (IN_IGNORED); EINVAL then is fine.
	_, _ = unix.InotifyRmWatch(in.fd, uint32(wd))
}

// stale reports whether w's path now names another inode (the directory was replaced).
func (in *inotify) stale(w *watched) bool {
	var st unix.Stat_t
	if err := unix.Stat(w.path, &st); err != nil {
		return true
	}
	return st.Dev != w.dev || st.Ino != w.ino
}

// nearestDir returns d, or its nearest existing ancestor directory.
func nearestDir(d string) string {
	for ; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return "/"
}

// mountPoints returns the mount points of this mount namespace.
func mountPoints() map[string]bool {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out[unescapeMount(f[4])] = true
		}
	}
	return out
}

// unescapeMount decodes mountinfo's octal escapes (\040 is a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
