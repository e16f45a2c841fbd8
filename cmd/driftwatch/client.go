package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiClient speaks a running driftwatch's HTTP API for the CLI commands, with the token the
// caller gives (--token or DRIFTWATCH_TOKEN).
type apiClient struct {
	api   string
	token string
	http  *http.Client
}

// clientFlags adds --api and --token to fs.
func clientFlags(fs *flag.FlagSet) *apiClient {
	c := &apiClient{http: &http.Client{Timeout: 2 * time.Minute}}
	fs.StringVar(&c.api, "api", env("DRIFTWATCH_API", "http://127.0.0.1:8080"), "base URL of the driftwatch API ($DRIFTWATCH_API)")
	fs.StringVar(&c.token, "token", env("DRIFTWATCH_TOKEN", ""), "API token ($DRIFTWATCH_TOKEN)")
	return c
}

// apiError is an answer other than the one expected: its status and problem detail.
type apiError struct {
	Status int
	Detail string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// do sends a request with a JSON body (none when nil) and returns the status and raw answer.
// A transport failure is an error; any status is the caller's to judge.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.api, "/")+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("reach the driftwatch API at %s: %w", c.api, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, raw, nil
}

// call is do for an answer with status want, decoded into out (when not nil); any other
// status is an *apiError with the problem's detail.
func (c *apiClient) call(ctx context.Context, method, path string, body any, want int, out any) error {
	status, raw, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status != want {
		return c.answerError(status, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode the answer: %w", err)
		}
	}
	return nil
}

// answerError is the *apiError of an answer with an unexpected status: the problem's detail,
// else the answer's text.
func (c *apiClient) answerError(status int, raw []byte) error {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(raw, &p) != nil || p.Detail == "" {
		p.Detail = strings.TrimSpace(string(raw))
	}
	if status == http.StatusUnauthorized && c.token == "" {
		p.Detail += " (give a token with --token or DRIFTWATCH_TOKEN)"
	}
	return &apiError{Status: status, Detail: p.Detail}
}
