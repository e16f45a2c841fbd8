package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits of StartRedis.
const (
	// redisStartTimeout bounds the wait for the first PONG.
	redisStartTimeout = 10 * time.Second
	// redisStopTimeout is how long Stop waits after SIGTERM before it kills the server.
	redisStopTimeout = 5 * time.Second
	// redisPortAttempts is how many free ports StartRedis tries: another process may take
	// the port between the probe and redis-server's bind.
	redisPortAttempts = 5
	// redisOutputLimit bounds the server output kept for error messages.
	redisOutputLimit = 64 << 10
)

// Redis is a private redis-server that the bench command runs for itself: no persistence,
// bound to 127.0.0.1 on a free port, data directory of the caller's choosing. It is safe for
// concurrent use.
type Redis struct {
	addr   string
	cmd    *exec.Cmd
	out    *tailBuffer
	exited chan struct{}
	stop   sync.Once
}

// StartRedis runs redis-server (found on PATH) with `--port N --save ” --appendonly no
// --dir dir --bind 127.0.0.1 --protected-mode yes` and returns once it answers PING, or
// fails when it has not within 10 seconds or ctx ends first. dir must exist. On Linux the
// server is killed if the calling process dies.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	if dir == "" {
		return nil, errors.New("start redis-server: empty data directory")
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("start redis-server: data directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("start redis-server: data directory %s is not a directory", dir)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	var lastErr error
	for range redisPortAttempts {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("start redis-server: pick a free port: %w", err)
		}
		r, err := launchRedis(ctx, bin, dir, port)
		if err == nil {
			return r, nil
		}
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	return nil, fmt.Errorf("start redis-server: %w", lastErr)
}

// launchRedis starts one server on port and waits for PING.
func launchRedis(ctx context.Context, bin, dir string, port int) (*Redis, error) {
	r := &Redis{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		out:    &tailBuffer{limit: redisOutputLimit},
		exited: make(chan struct{}),
	}
	r.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", dir,
		"--bind", "127.0.0.1", "--protected-mode", "yes", "--daemonize", "no", "--logfile", "")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = redisProcAttr()
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	if err := r.waitReady(ctx); err != nil {
		_ = r.Stop()
		return nil, fmt.Errorf("%w; server output:\n%s", err, bytes.TrimSpace(r.out.Bytes()))
	}
	return r, nil
}

// waitReady polls PING until +PONG, the process exits, ctx ends or the start timeout
// passes. redis-server offers no other readiness signal.
func (r *Redis) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := pingRedis(ctx, r.addr)
		if err == nil {
			return nil
		}
		select {
		case <-r.exited:
			return errors.New("redis-server exited before answering PING")
		case <-ctx.Done():
			return fmt.Errorf("no PONG from %s: %w (last: %w)", r.addr, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Addr returns the server's host:port.
func (r *Redis) Addr() string { return r.addr }

// URL returns the server's redis:// URL for database 0.
func (r *Redis) URL() string { return "redis://" + r.addr + "/0" }

// PID returns the server's process id, for CPU and memory sampling.
func (r *Redis) PID() int { return r.cmd.Process.Pid }

// Proc returns the server as a Proc labelled "redis-server".
func (r *Redis) Proc() Proc { return Proc{PID: r.PID(), Label: "redis-server"} }

// Output returns the last 64 KiB the server printed.
func (r *Redis) Output() string { return string(r.out.Bytes()) }

// Stop shuts the server down: SIGTERM, then SIGKILL after 5 seconds. It is idempotent and
// returns an error only when the server could not be signalled.
func (r *Redis) Stop() error {
	var err error
	r.stop.Do(func() {
		if sigErr := r.cmd.Process.Signal(syscall.SIGTERM); sigErr != nil && !errors.Is(sigErr, os.ErrProcessDone) {
			err = fmt.Errorf("stop redis-server: %w", sigErr)
		}
		select {
		case <-r.exited:
		case <-time.After(redisStopTimeout):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return err
}

// pingRedis sends one inline PING and expects +PONG.
func pingRedis(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// freePort asks the kernel for a free port by listening on port 0 and closing at once.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last limit bytes written to it; it is safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what is kept.
func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}
