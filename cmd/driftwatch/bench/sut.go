package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// SUT is one driftwatch serve process under test: on its embedded defaults, or over the
// bench's redis-server.
type SUT struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	out     *tailBuffer
	client  *http.Client
	token   string
}

// SUTConfig says how to start driftwatch.
type SUTConfig struct {
	// Binary is the driftwatch executable; required.
	Binary string
	// DataDir is its data directory; required.
	DataDir string
	// RedisURL runs it with --redis; empty: embedded.
	RedisURL string
	// Token is the admin token the bench gives it (DRIFTWATCH_ADMIN_TOKEN) and sends.
	Token string
	// Args are more flags.
	Args []string
}

// StartDriftwatch starts driftwatch serve on a free loopback port and waits until it
// answers /healthz.
func StartDriftwatch(ctx context.Context, cfg SUTConfig) (*SUT, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", cfg.DataDir, "--http", addr, "--log-level", "warn"}
	if cfg.RedisURL != "" {
		args = append(args, "--redis", cfg.RedisURL)
	}
	args = append(args, cfg.Args...)
	cmd := exec.Command(cfg.Binary, args...)
	out := &tailBuffer{limit: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "DRIFTWATCH_ADMIN_TOKEN="+cfg.Token)
	cmd.SysProcAttr = redisProcAttr() // the same: die with the bench
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start driftwatch: %w", err)
	}
	s := &SUT{cmd: cmd, url: "http://" + addr, dataDir: cfg.DataDir, out: out, token: cfg.Token, client: &http.Client{
		Transport: &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048, IdleConnTimeout: time.Minute},
		Timeout:   30 * time.Second,
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.Health(ctx); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("driftwatch did not answer /healthz within 30s: %s", string(out.Bytes()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the API's base URL.
func (s *SUT) URL() string { return s.url }

// Proc is the process, for CPU and RSS sampling.
func (s *SUT) Proc() Proc { return Proc{PID: s.cmd.Process.Pid, Label: "driftwatch"} }

// Output is what the process printed, its tail.
func (s *SUT) Output() string { return string(s.out.Bytes()) }

// Stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (s *SUT) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return ignoreSignal(err)
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		return ignoreSignal(<-done)
	}
}

func ignoreSignal(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil
	}
	return err
}

// Do sends a request with the bench's token and returns the status and body.
func (s *SUT) Do(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// Health returns the read models' position from /healthz.
func (s *SUT) Health(ctx context.Context) (uint64, error) {
	code, raw, err := s.Do(ctx, http.MethodGet, "/healthz", "", nil)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("/healthz: %d %s", code, raw)
	}
	var h struct {
		Position uint64 `json:"projection_position"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, fmt.Errorf("/healthz: %w", err)
	}
	return h.Position, nil
}

// WaitIdle waits until the read models' position has not moved for quiet (the pipeline has
// nothing left to do), or ctx ends.
func (s *SUT) WaitIdle(ctx context.Context, quiet time.Duration) error {
	last, err := s.Health(ctx)
	if err != nil {
		return err
	}
	stable := time.Now()
	for time.Since(stable) < quiet {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		pos, err := s.Health(ctx)
		if err != nil {
			return err
		}
		if pos != last {
			last, stable = pos, time.Now()
		}
	}
	return nil
}

// DiskBytes is the size of the data directory's files.
func (s *SUT) DiskBytes() (int64, error) {
	var n int64
	err := filepath.WalkDir(s.dataDir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// Allocated blocks, not the apparent size: bbolt files are sparse as they grow.
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	return n, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
