// Package publish delivers the agent's signed observations to driftwatch: by XADD to the
// observations stream in the bus's wire format (a CloudEvent in the entry's "event" field), or
// by POST /observations. The Outbox puts every observation in the spool first and sends from
// there in order, so an unreachable server delays observations instead of losing them.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Source is the CloudEvents source of the agent's messages.
const Source = "driftwatch-agent"

// Sender sends one observation: doc is the JSON of an event.ObservationSubmitted_v1, sent as
// it was spooled (a node's state is large: it is not decoded and encoded again). Errors are
// retried unless marked fault.Permanent.
type Sender interface {
	Send(ctx context.Context, doc []byte) error
	Close() error
}

// SubmissionID is the CloudEvents id of an observation on the observations topic; the same
// derivation as POST /observations, so a resent observation is the same message.
func SubmissionID(ci, observationID string) string {
	return event.DeriveID("observation-submitted", ci, observationID)
}

// head is what a sender reads of an observation document.
type head struct {
	ID   string `json:"id"`
	CIID string `json:"ci_id"`
}

// readHead reads the id and CI of an observation document.
func readHead(doc []byte) (head, error) {
	var h head
	if err := json.Unmarshal(doc, &h); err != nil {
		return h, fault.Permanent(fmt.Errorf("not an observation document: %w", err))
	}
	if h.ID == "" || h.CIID == "" {
		return h, fault.Permanent(errors.New("the observation document has no id or ci_id"))
	}
	return h, nil
}

// Redis sends by XADD to a stream.
type Redis struct {
	client *redis.Client
	stream string
}

// NewRedis returns a sender to the stream at the redis:// URL.
func NewRedis(url, stream string, timeout time.Duration) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	// The outbox retries with its own backoff; the client should fail fast.
	opts.MaxRetries = -1
	opts.PoolSize = 2
	return &Redis{client: redis.NewClient(opts), stream: stream}, nil
}

// Send implements Sender: the document becomes the data of an
// io.driftwatch.observation.submitted.v1 CloudEvent in the entry's "event" field.
func (r *Redis) Send(ctx context.Context, doc []byte) error {
	h, err := readHead(doc)
	if err != nil {
		return err
	}
	msg := message.NewMessage(SubmissionID(h.CIID, h.ID), doc)
	msg.Metadata.Set(event.MetaType, event.TypeObservationSubmitted)
	msg.Metadata.Set(event.MetaSource, Source)
	msg.Metadata.Set(event.MetaSubject, h.CIID)
	msg.Metadata.Set(event.MetaTime, time.Now().UTC().Format(time.RFC3339Nano))
	entry, err := redisbus.EncodeEntry(msg)
	if err != nil {
		return fault.Permanent(err)
	}
	if n := entry.Size(); n > redisbus.DefaultMaxEntryBytes {
		return fault.Permanent(fmt.Errorf("observation %s is %d bytes, over the bus's %d-byte entry limit", h.ID, n, redisbus.DefaultMaxEntryBytes))
	}
	if err := r.client.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: entry.Values()}).Err(); err != nil {
		return fmt.Errorf("xadd %s: %w", r.stream, err)
	}
	return nil
}

// Close closes the client.
func (r *Redis) Close() error { return r.client.Close() }

// HTTP sends by POST /observations.
type HTTP struct {
	url    string
	client *http.Client
}

// NewHTTP returns a sender to the driftwatch API at baseURL (http://host:port).
func NewHTTP(baseURL string, timeout time.Duration) *HTTP {
	return &HTTP{url: strings.TrimSuffix(baseURL, "/") + "/observations", client: &http.Client{Timeout: timeout}}
}

// Send implements Sender. 202 is success; other 4xx answers (but 408 and 429) are permanent.
func (h *HTTP) Send(ctx context.Context, doc []byte) error {
	hd, err := readHead(doc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(doc))
	if err != nil {
		return fault.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("post observation: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	switch c := resp.StatusCode; {
	case c == http.StatusAccepted || c == http.StatusOK:
		return nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return fault.Permanent(fmt.Errorf("post observation %s: %s: %s", hd.ID, resp.Status, bytes.TrimSpace(answer)))
	default:
		return fmt.Errorf("post observation %s: %s", hd.ID, resp.Status)
	}
}

// Close releases idle connections.
func (h *HTTP) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// errNoSender is returned by New when the config names no server.
var errNoSender = errors.New("server: set redis_url or http_url")

// New returns the Redis sender when redisURL is set, else the HTTP sender.
func New(redisURL, httpURL, stream string, timeout time.Duration) (Sender, error) {
	switch {
	case redisURL != "":
		return NewRedis(redisURL, stream, timeout)
	case httpURL != "":
		return NewHTTP(httpURL, timeout), nil
	}
	return nil, errNoSender
}
