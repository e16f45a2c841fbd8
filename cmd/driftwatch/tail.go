package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// tailBlock is how long one XREAD of `events tail --redis` blocks, so that an interrupt is
// noticed soon.
const tailBlock = 2 * time.Second

// eventsTail is `driftwatch events tail`: it prints each new drift event as one JSON line
// until ctx ends.
func eventsTail(ctx context.Context, c *apiClient, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) int {
	redisURL := fs.String("redis", "", "follow the drift.detected stream on this Redis (redis://host:port/db); default the API's stream")
	if _, code, ok := parseCLI(fs, eventsUsage, args, nil, stdout, stderr); !ok {
		return code
	}
	var err error
	if *redisURL != "" {
		err = tailRedis(ctx, *redisURL, stdout)
	} else {
		err = tailAPI(ctx, c, stdout, stderr)
	}
	if ctx.Err() != nil {
		return exitOK
	}
	if err != nil {
		return failure(stderr, "events tail", exitFailed, err)
	}
	return exitOK
}

// tailRedis follows the drift.detected stream from its end with XREAD (no consumer group, so
// it leaves nothing behind), printing each entry's CloudEvent.
func tailRedis(ctx context.Context, rawURL string, stdout io.Writer) error {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	last := "$"
	for ctx.Err() == nil {
		streams, err := rdb.XRead(ctx, &goredis.XReadArgs{Streams: []string{topic.DriftDetected, last}, Block: tailBlock, Count: 100}).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			continue
		case err != nil:
			return fmt.Errorf("read %s from %s: %w", topic.DriftDetected, opts.Addr, err)
		}
		for _, s := range streams {
			for _, m := range s.Messages {
				last = m.ID
				ev, _ := m.Values["event"].(string)
				if err := printLine(stdout, []byte(ev)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// tailAPI follows GET /drift/events/stream. Once connected it reconnects after a broken
// stream or a 5xx (from the last event it printed) until ctx ends; a first connection that
// fails, or a refusal (4xx), is an error.
func tailAPI(ctx context.Context, c *apiClient, stdout, stderr io.Writer) error {
	lastID, lastErr := "", ""
	connected := false
	backoff := time.Second
	for {
		ok, err := c.stream(ctx, &lastID, stdout)
		if ctx.Err() != nil {
			return nil
		}
		connected = connected || ok
		var refused *apiError
		if !connected || (errors.As(err, &refused) && refused.Status < 500) {
			return err
		}
		if ok {
			backoff = time.Second
		}
		if msg := fmt.Sprint(err); msg != lastErr {
			fmt.Fprintf(stderr, "driftwatch: events tail: %s; reconnecting\n", oneLine(msg))
			lastErr = msg
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// stream reads the API's server-sent events after *lastID until the stream ends, printing
// each event's data and recording its id. ok says whether the server accepted the stream.
func (c *apiClient) stream(ctx context.Context, lastID *string, stdout io.Writer) (ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.api, "/")+"/drift/events/stream", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	// A stream has no overall timeout: it lasts until interrupted.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return false, fmt.Errorf("reach the driftwatch API at %s: %w", c.api, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return false, c.answerError(resp.StatusCode, raw)
	}
	r := bufio.NewReader(resp.Body)
	var id string
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server ended the stream")
			}
			return true, err
		}
		line = strings.TrimRight(line, "\r\n")
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if len(data) > 0 {
				if err := printLine(stdout, []byte(strings.Join(data, "\n"))); err != nil {
					return true, err
				}
				if id != "" {
					*lastID = id
				}
			}
			id, data = "", nil
		case field == "id":
			id = value
		case field == "data":
			data = append(data, value)
		}
	}
}

// printLine writes a JSON document compacted to one line; text that is not JSON is written
// as a JSON string, so that every line parses.
func printLine(w io.Writer, doc []byte) error {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		b.Reset()
		s, _ := json.Marshal(string(doc)) // marshalling a string cannot fail
		b.Write(s)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
