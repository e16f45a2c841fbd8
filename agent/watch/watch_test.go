package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent/watch"
)

// started runs a watcher on paths and returns it with a function that waits for an event
// matching cond.
func started(t *testing.T, paths []string, run bool) (*watch.Watcher, func() context.CancelFunc) {
	t.Helper()
	w, err := watch.New(watch.Config{Paths: paths, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	begin := func() context.CancelFunc {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		var stopped bool
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}
		}
		t.Cleanup(stop)
		return stop
	}
	if run {
		begin()
	}
	return w, begin
}

// await returns the first event matching cond within 5 seconds.
func await(t *testing.T, w *watch.Watcher, what string, cond func(watch.Event) bool) watch.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-w.Events():
			if cond(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no event %s within 5s; health %+v", what, w.Health())
		}
	}
}

// awaitWatchedAgain changes path's mode until the watcher reports a complete save for it (its
// directory is watched), then lets the events of the last changes drain, so that the caller
// starts from a quiet watcher.
func awaitWatchedAgain(t *testing.T, w *watch.Watcher, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for mode := os.FileMode(0o600); ; mode ^= 0o040 {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-w.Events():
			if e.Path == path && e.Complete {
				for {
					select {
					case <-w.Events():
					case <-time.After(200 * time.Millisecond):
						return
					}
				}
			}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete event for a chmod of %s; health %+v", path, w.Health())
		}
	}
}

func TestWatcherReportsTheWatchedPathOnlyForSavesInItsDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	if err := os.WriteFile(path, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, _ := started(t, []string{path}, true)
	if h := w.Health(); h.Mode != watch.ModeInotify || h.Watches != 1 {
		t.Fatalf("health %+v: want one directory watch", h)
	}
	if err := os.WriteFile(filepath.Join(dir, "unrelated"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := await(t, w, "for the save", func(e watch.Event) bool { return e.Complete })
	if e.Path != path {
		t.Fatalf("event for %q, want %q", e.Path, path)
	}
}

func TestWatcherWaitsForAMissingDirectoryAndWatchesItWhenItComes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	path := filepath.Join(root, "etc", "ssh", "sshd_config")
	w, _ := started(t, []string{path}, true)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("Port 22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	await(t, w, "for the new file", func(e watch.Event) bool { return e.Path == path })
	// The first event may stand for changes made before the new directory was watched; once
	// it is, a chmod there is reported as a complete save.
	awaitWatchedAgain(t, w, path)
	if h := w.Health(); h.Rewatches == 0 {
		t.Fatalf("health %+v: no directory was watched anew", h)
	}
}

func TestWatcherFollowsAReplacedDirectoryNotTheMovedOne(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "ssh")
	path := filepath.Join(dir, "sshd_config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("Port 22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, _ := started(t, []string{path}, true)
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	await(t, w, "for the replaced directory", func(e watch.Event) bool { return e.Path == path })
	// The new directory may be watched only after a further event on the parent: until then a
	// save there is reported, as a path watched anew, but not as complete.
	if err := os.WriteFile(path, []byte("Port 2222\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	await(t, w, "for a save in the new directory", func(e watch.Event) bool { return e.Path == path })
	awaitWatchedAgain(t, w, path)
	// A save in the moved-away directory is not the watched path any more.
	if err := os.WriteFile(filepath.Join(dir+".old", "sshd_config"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	e := await(t, w, "for the marker chmod", func(e watch.Event) bool { return e.Complete })
	if e.Path != path {
		t.Fatalf("event for %q", e.Path)
	}
	select {
	case e := <-w.Events():
		if e.Complete {
			t.Fatalf("an extra complete event %+v: the moved directory is still watched as the path", e)
		}
	default:
	}
}

func TestWatcherReportsAGapWhenTheKernelQueueOverflows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	if err := os.WriteFile(path, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Watches are set up by New; nothing reads them until Run.
	w, run := started(t, []string{path}, false)
	queue := 16384
	if raw, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		_, _ = fmt.Sscan(string(raw), &queue)
	}
	if queue > 200000 {
		t.Skipf("max_queued_events is %d: overflowing it takes too long", queue)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each write and chmod adds an event that is not the same as the one before it, so the
	// kernel cannot merge them.
	for i := 0; i <= queue; i++ {
		if _, err := f.WriteAt([]byte{byte('a' + i%26)}, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(0o600 | os.FileMode(i%2)<<2); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.Close()
	run()
	await(t, w, "gap", func(e watch.Event) bool { return e.Gap == watch.GapOverflow })
	if h := w.Health(); h.Overflows != 1 {
		t.Fatalf("health %+v: want one overflow", h)
	}
}

func TestNewRefusesBadPaths(t *testing.T) {
	t.Parallel()
	_, err := watch.New(watch.Config{Paths: []string{"relative", "/a/../b", "/"}})
	for _, want := range []string{"paths[0]", "paths[1]", "paths[2]", "logger: required"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
