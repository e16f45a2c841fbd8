package proctest

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Process is a command started by Start and owned by a test.
type Process struct {
	// Output collects what the process writes to stdout and stderr.
	Output *Buffer

	name        string
	cmd         *exec.Cmd
	exited      chan struct{}
	stopTimeout time.Duration
	tail        int
}

// Option changes how Start runs a process.
type Option func(*Process)

// WithStopTimeout sets how long Stop waits after SIGTERM before it kills the process
// (default 30 seconds).
func WithStopTimeout(d time.Duration) Option { return func(p *Process) { p.stopTimeout = d } }

// WithTail sets how many lines of output the cleanup logs when the test failed (default 30).
func WithTail(lines int) Option { return func(p *Process) { p.tail = lines } }

// Start starts cmd with its stdout and stderr going to Output, and registers a cleanup that
// stops it and, if the test failed, logs the tail of its output under name ("<name> logs:").
// The caller sets cmd's arguments, environment and directory; Start fails the test if the
// command does not start.
func Start(t testing.TB, name string, cmd *exec.Cmd, opts ...Option) *Process {
	t.Helper()
	p := &Process{
		Output: &Buffer{}, name: name, cmd: cmd, exited: make(chan struct{}),
		stopTimeout: 30 * time.Second, tail: 30,
	}
	for _, o := range opts {
		o(p)
	}
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", p.name, p.Output.Tail(p.tail))
		}
	})
	return p
}

// Stop sends SIGTERM and waits for the process to exit; after the stop timeout it kills it.
// It returns at once if the process has exited already, so it may be called more than once.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(p.stopTimeout):
		p.Kill()
	}
}

// Kill sends SIGKILL, so that no shutdown code runs, and waits for the process to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Signal sends sig to the process, e.g. SIGSTOP and SIGCONT to freeze and thaw it.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed once the process has exited and its output is collected.
func (p *Process) Exited() <-chan struct{} { return p.exited }
