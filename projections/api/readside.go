package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections/drifts"
	"github.com/driftwatch/driftwatch/projections/history"
)

// knownOnly refuses query parameters a route does not read, naming them.
func knownOnly(q url.Values, known ...string) error {
	var params []InvalidParam
	for name, vs := range q {
		ok := false
		for _, k := range known {
			ok = ok || k == name
		}
		switch {
		case !ok:
			params = append(params, InvalidParam{Name: name, Reason: fmt.Sprintf("unknown query parameter; known: %v", known)})
		case len(vs) > 1:
			params = append(params, InvalidParam{Name: name, Reason: "given more than once"})
		}
	}
	if len(params) > 0 {
		return badRequest("invalid query parameters", params...)
	}
	return nil
}

// ciHistory is GET /drift/cis/{id}/history: every fact about the CI in the order it was
// recorded (observations, the desired state and policy that judged them, drifts, actions,
// acknowledgements, rejections), paged by after and limit, as of a moment with as_of.
func (a *api) ciHistory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	if err := knownOnly(q, "as_of", "after", "limit"); err != nil {
		return err
	}
	at, err := parseAsOf(r)
	if err != nil {
		return err
	}
	hq := history.Query{AsOf: at, Limit: 200}
	var params []InvalidParam
	if s := q.Get("after"); s != "" {
		if hq.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			params = append(params, InvalidParam{Name: "after", Reason: fmt.Sprintf("%q is not a position (the next of a previous page)", s)})
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			params = append(params, InvalidParam{Name: "limit", Reason: fmt.Sprintf("%q must be a whole number from 1 to 1000", s)})
		}
		hq.Limit = n
	}
	if len(params) > 0 {
		return badRequest("invalid query parameters", params...)
	}
	page, err := history.Read(r.Context(), a.Store, id, hq)
	if err != nil {
		return unavailable("the CI's history could not be read; retry", err)
	}
	if len(page.Items) == 0 && hq.After == 0 {
		if _, known, err := a.Drifts.CI(id); err != nil {
			return fmt.Errorf("history of %s: %w", id, err)
		} else if !known {
			return notFound("CI", id)
		}
	}
	return writeJSON(w, http.StatusOK, page)
}

// timeline is GET /drift/report/timeline: drifts opened and resolved per hour or day
// (bucket) from from to to (RFC 3339; default the last 24 hours by hour, the last 30 days by
// day), by category and severity, optionally for one category or severity; as of a moment
// with as_of.
func (a *api) timeline(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := knownOnly(q, "bucket", "from", "to", "category", "severity", "as_of"); err != nil {
		return err
	}
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	var params []InvalidParam
	bad := func(name, reason string) { params = append(params, InvalidParam{Name: name, Reason: reason}) }
	tq := drifts.TimelineQuery{Bucket: 24 * time.Hour, To: v.Now,
		Category: drift.Category(q.Get("category")), Severity: drift.Severity(q.Get("severity"))}
	span := 30 * 24 * time.Hour
	switch q.Get("bucket") {
	case "", "day":
	case "hour":
		tq.Bucket, span = time.Hour, 24*time.Hour
	default:
		bad("bucket", fmt.Sprintf("%q is not hour or day", q.Get("bucket")))
	}
	parseTime := func(name string, into *time.Time) {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				bad(name, fmt.Sprintf("%q is not an RFC 3339 time", s))
				return
			}
			*into = t.UTC()
		}
	}
	parseTime("to", &tq.To)
	tq.From = tq.To.Add(-span)
	parseTime("from", &tq.From)
	if tq.Category != "" && !tq.Category.Valid() {
		bad("category", fmt.Sprintf("%q is not a SPEC-080 category", tq.Category))
	}
	if tq.Severity != "" && !tq.Severity.Valid() {
		bad("severity", fmt.Sprintf("%q is not one of low, medium, high, critical", tq.Severity))
	}
	if len(params) == 0 && !tq.To.After(tq.From.Truncate(tq.Bucket)) {
		bad("to", "must be after from")
	}
	if len(params) > 0 {
		return badRequest("invalid query parameters", params...)
	}
	t, err := v.Drifts.Timeline(tq)
	if errors.Is(err, drifts.ErrTooManyBuckets) {
		return badRequest("the range is too long for its bucket", InvalidParam{Name: "from", Reason: err.Error()})
	}
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return writeJSON(w, http.StatusOK, t)
}

// causes is GET /drift/report/causes: unresolved drifts grouped by field, desired and actual
// value across CIs, the largest groups first; optionally for one category or severity, as of
// a moment with as_of.
func (a *api) causes(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := knownOnly(q, "category", "severity", "as_of"); err != nil {
		return err
	}
	f := drifts.Filter{Category: drift.Category(q.Get("category")), Severity: drift.Severity(q.Get("severity"))}
	var params []InvalidParam
	if f.Category != "" && !f.Category.Valid() {
		params = append(params, InvalidParam{Name: "category", Reason: fmt.Sprintf("%q is not a SPEC-080 category", f.Category)})
	}
	if f.Severity != "" && !f.Severity.Valid() {
		params = append(params, InvalidParam{Name: "severity", Reason: fmt.Sprintf("%q is not one of low, medium, high, critical", f.Severity)})
	}
	if len(params) > 0 {
		return badRequest("invalid query parameters", params...)
	}
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	cs, err := v.Drifts.Causes(f)
	if err != nil {
		return fmt.Errorf("causes: %w", err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": cs, "total": len(cs)})
}
