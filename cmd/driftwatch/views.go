package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// driftView is a drift as GET /drift/events and /drift/events/{id} answer it, the members
// the CLI shows.
type driftView struct {
	DriftID          string          `json:"drift_id"`
	Status           drift.Status    `json:"status"`
	CIID             string          `json:"ci_id"`
	CIType           string          `json:"ci_type"`
	TemplateID       string          `json:"template_id"`
	PolicyID         string          `json:"policy_id"`
	Category         drift.Category  `json:"category"`
	Severity         drift.Severity  `json:"severity"`
	Field            string          `json:"field"`
	Desired          json.RawMessage `json:"desired"`
	Actual           json.RawMessage `json:"actual"`
	FirstActual      json.RawMessage `json:"first_actual"`
	Detail           string          `json:"detail"`
	DetectedAt       time.Time       `json:"detected_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
	AcknowledgedAt   time.Time       `json:"acknowledged_at"`
	AcknowledgedBy   string          `json:"acknowledged_by"`
	AckComment       string          `json:"acknowledge_comment"`
	ResolvedAt       time.Time       `json:"resolved_at"`
	ResolutionReason string          `json:"resolution_reason"`
}

// ciView is a CI as GET /drift/cis lists it, the members check reads.
type ciView struct {
	CIID       string `json:"ci_id"`
	CIType     string `json:"ci_type"`
	TemplateID string `json:"template_id"`
	// Verification is verified, stale or never_verified; absent (older servers) is verified.
	Verification   string    `json:"verification"`
	LastVerifiedAt time.Time `json:"last_verified_at"`
	Evaluation     *struct {
		ObservedAt time.Time `json:"observed_at"`
		Desired    struct {
			TemplateID string `json:"template_id"`
			Version    int    `json:"version"`
		} `json:"desired"`
	} `json:"evaluation"`
	OpenDrifts int `json:"open_drifts"`
}

// verifiedAt is when the CI's state was last compared with its desired state; zero if never.
func (ci ciView) verifiedAt() time.Time {
	if !ci.LastVerifiedAt.IsZero() || ci.Evaluation == nil {
		return ci.LastVerifiedAt
	}
	return ci.Evaluation.ObservedAt
}

// listPageSize is the page size the CLI asks for: the API's largest by default.
const listPageSize = 500

// page is one page of a listing.
type page struct {
	Items      []json.RawMessage `json:"items"`
	Total      int               `json:"total"`
	NextCursor string            `json:"next_cursor"`
}

// listAll reads every page of the listing at path with query q (GET, following
// next_cursor), at most limit items when limit > 0. It returns the items as the API gave
// them.
func (c *apiClient) listAll(ctx context.Context, path string, q url.Values, limit int) ([]json.RawMessage, error) {
	q = cloneValues(q)
	var out []json.RawMessage
	for {
		var p page
		query := ""
		if len(q) > 0 {
			query = "?" + q.Encode()
		}
		if err := c.call(ctx, http.MethodGet, path+query, nil, http.StatusOK, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		if p.NextCursor == "" || len(p.Items) == 0 {
			return out, nil
		}
		q.Set("cursor", p.NextCursor)
	}
}

// listDrifts reads every drift matching q (status, ci, category, severity), decoded.
func (c *apiClient) listDrifts(ctx context.Context, q url.Values, limit int) ([]json.RawMessage, []driftView, error) {
	q = cloneValues(q)
	q.Set("limit", strconv.Itoa(listPageSize))
	raw, err := c.listAll(ctx, "/drift/events", q, limit)
	if err != nil {
		return nil, nil, err
	}
	views := make([]driftView, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &views[i]); err != nil {
			return nil, nil, fmt.Errorf("decode a drift: %w", err)
		}
	}
	return raw, views, nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, vs := range q {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// short renders a JSON value for a table cell: compact, "-" when absent, cut at n runes.
func short(raw json.RawMessage, n int) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "-"
	}
	s := string(raw)
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		s = b.String()
	}
	return cut(oneLine(s), n)
}

// cut shortens s to at most n runes, marking a cut with an ellipsis.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// when formats a time for a table: RFC 3339 in UTC, seconds precision; "-" when zero.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// orDash is s, or "-" when empty, so that table columns never collapse.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}
