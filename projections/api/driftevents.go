package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// listQuery lists the query parameters GET /drift/events reads.
var listQuery = map[string]bool{"status": true, "ci": true, "category": true, "severity": true, "limit": true, "cursor": true, "as_of": true}

// listDrifts is GET /drift/events: drift events in detection order, filtered by status, ci,
// category and severity, paged by limit and cursor, with the total of matches; as of a
// moment with as_of.
func (a *api) listDrifts(w http.ResponseWriter, r *http.Request) error {
	f, p, err := a.parseList(r.URL.Query())
	if err != nil {
		return err
	}
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	l, err := v.Drifts.List(f, p)
	if errors.Is(err, drifts.ErrBadCursor) {
		return badRequest("invalid query parameter: cursor", InvalidParam{Name: "cursor", Reason: "not a cursor this API handed out"})
	}
	if err != nil {
		return fmt.Errorf("list drifts: %w", err)
	}
	return writeJSON(w, http.StatusOK, l)
}

// parseList reads and checks the listing's query, naming every bad parameter.
func (a *api) parseList(q url.Values) (drifts.Filter, drifts.Page, error) {
	var params []InvalidParam
	bad := func(name, reason string) { params = append(params, InvalidParam{Name: name, Reason: reason}) }
	for name, vs := range q {
		switch {
		case !listQuery[name]:
			bad(name, "unknown query parameter; known: status, ci, category, severity, limit, cursor, as_of")
		case len(vs) > 1:
			bad(name, "given more than once")
		}
	}
	f := drifts.Filter{
		Status: drift.Status(q.Get("status")), CIID: q.Get("ci"),
		Category: drift.Category(q.Get("category")), Severity: drift.Severity(q.Get("severity")),
	}
	if f.Status != "" && !f.Status.Valid() {
		bad("status", fmt.Sprintf("%q is not one of open, acknowledged, resolved", f.Status))
	}
	if f.Category != "" && !f.Category.Valid() {
		bad("category", fmt.Sprintf("%q is not a SPEC-080 category", f.Category))
	}
	if f.Severity != "" && !f.Severity.Valid() {
		bad("severity", fmt.Sprintf("%q is not one of low, medium, high, critical", f.Severity))
	}
	p := drifts.Page{Limit: a.cfg.DefaultPageSize, Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > a.cfg.MaxPageSize {
			bad("limit", fmt.Sprintf("%q must be a whole number from 1 to %d", s, a.cfg.MaxPageSize))
		}
		p.Limit = n
	}
	if len(params) > 0 {
		return f, p, badRequest("invalid query parameters", params...)
	}
	return f, p, nil
}

// getDrift is GET /drift/events/{id}.
func (a *api) getDrift(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	d, ok, err := v.Drifts.Get(id)
	if err != nil {
		return fmt.Errorf("get drift %s: %w", id, err)
	}
	if !ok {
		return notFound("drift event", id)
	}
	return writeJSON(w, http.StatusOK, d)
}

// listCIs is GET /drift/cis: the drift status of every CI, with how recently it was
// verified.
func (a *api) listCIs(w http.ResponseWriter, r *http.Request) error {
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	cis, err := v.Drifts.CIs()
	if err != nil {
		return fmt.Errorf("list cis: %w", err)
	}
	items := make([]ciView, len(cis))
	for i, ci := range cis {
		items[i] = ciView{CI: ci, Verification: drifts.VerificationOf(ci, v.Now, a.cfg.ExpectedInterval)}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// ciView is a CI with its verification at the moment of the read.
type ciView struct {
	drifts.CI
	Verification drifts.Verification `json:"verification"`
}

// getCI is GET /drift/cis/{id}: one CI's drift status and last observed state.
func (a *api) getCI(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	ci, ok, err := v.Drifts.CI(id)
	if err != nil {
		return fmt.Errorf("get ci %s: %w", id, err)
	}
	if !ok {
		return notFound("CI", id)
	}
	out := ciWithState{ciView: ciView{CI: ci, Verification: drifts.VerificationOf(ci, v.Now, a.cfg.ExpectedInterval)}}
	if ci.StateHash != "" {
		if out.State, err = a.States.Get(r.Context(), ci.StateHash); err != nil {
			return unavailable("the CI's state could not be read; retry", fmt.Errorf("read state of %s: %w", id, err))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// ciWithState is one CI with its last observed state.
type ciWithState struct {
	ciView
	State json.RawMessage `json:"state,omitempty"`
}

// report is GET /drift/report: drift counts by CI type, category, severity and status, and
// the coverage: how many CIs were verified within the expected interval.
func (a *api) report(w http.ResponseWriter, r *http.Request) error {
	v, err := a.viewOf(r)
	if err != nil {
		return err
	}
	defer v.Close()
	rep, err := v.Drifts.Report()
	if err != nil {
		return fmt.Errorf("drift report: %w", err)
	}
	cov, err := v.Drifts.Coverage(v.Now, a.cfg.ExpectedInterval)
	if err != nil {
		return fmt.Errorf("drift report: coverage: %w", err)
	}
	return writeJSON(w, http.StatusOK, reportView{Report: rep, Coverage: cov, AsOf: v.AsOf})
}

// reportView is the report with its coverage.
type reportView struct {
	drifts.Report
	Coverage drifts.Coverage `json:"coverage"`
	AsOf     time.Time       `json:"as_of,omitzero"`
}

// healthz is GET /healthz: the API answers, and how far the read models are.
func (a *api) healthz(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "projection_position": uint64(a.Runner.Position())})
}
