package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	// binDir is the directory binaries are built into, made on the first build.
	binDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "proctest-bin-") })
	// builds holds one func() (string, error) per kind and name, run at most once.
	builds sync.Map
)

// Build builds the command in pkgDir (a package directory, relative to the test's package) with
// the race detector, once per test binary, and returns the binary's path. Later calls with the
// same name return the same binary without building again, so name must identify pkgDir within
// the test binary. A failed build fails every test that asks for it.
func Build(t testing.TB, name, pkgDir string) string {
	t.Helper()
	return build(t, "race", name, pkgDir, nil, "-race")
}

// BuildStatic builds like Build but a static binary without the race detector (CGO_ENABLED=0),
// for a process whose footprint is measured or that runs where there is no C library. Its
// names are apart from Build's.
func BuildStatic(t testing.TB, name, pkgDir string) string {
	t.Helper()
	return build(t, "static", name, pkgDir, []string{"CGO_ENABLED=0"})
}

// RemoveBuilds deletes every binary Build and BuildStatic made. A TestMain calls it once m.Run
// has returned; without it the binaries stay in the system's temporary directory.
func RemoveBuilds() {
	if dir, err := binDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// build runs `go build flags -o <binDir>/<kind>/<name> pkgDir` with env added, once per kind
// and name.
func build(t testing.TB, kind, name, pkgDir string, env []string, flags ...string) string {
	t.Helper()
	fn, _ := builds.LoadOrStore(kind+"/"+name, sync.OnceValues(func() (string, error) {
		dir, err := binDir()
		if err != nil {
			return "", fmt.Errorf("make a directory for binaries: %w", err)
		}
		out := filepath.Join(dir, kind, name)
		args := append(append([]string{"build"}, flags...), "-o", out, pkgDir)
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkgDir, err, b)
		}
		return out, nil
	}))
	out, err := fn.(func() (string, error))()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
