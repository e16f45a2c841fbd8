package api

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// view is what a read answers from: the drift read model and the moment it stands for.
type view struct {
	Drifts DriftReader
	// Now is the moment the read answers for: the as_of time, or the API's clock.
	Now time.Time
	// AsOf is the as_of time; zero for a live read.
	AsOf    time.Time
	release func()
}

// Close releases what a rebuilt view holds.
func (v view) Close() {
	if v.release != nil {
		v.release()
	}
}

// parseAsOf reads the as_of query parameter: an RFC 3339 time, or none.
func parseAsOf(r *http.Request) (time.Time, error) {
	s := r.URL.Query().Get("as_of")
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("invalid query parameter: as_of", InvalidParam{Name: "as_of", Reason: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-12-01T10:00:00Z", s)})
	}
	return t.UTC(), nil
}

// viewOf returns the view a read answers from. Without as_of it is the live read model.
// With as_of it is a drift read model rebuilt from the event store as it stood at that
// moment (every fact recorded by then, none after), in a temporary file removed on Close;
// rebuilds run one at a time, so a burst of audit reads queues instead of competing with the
// pipeline for the disk.
func (a *api) viewOf(r *http.Request) (view, error) {
	at, err := parseAsOf(r)
	if err != nil {
		return view{}, err
	}
	if at.IsZero() {
		return view{Drifts: a.Drifts, Now: a.Now().UTC()}, nil
	}
	select {
	case a.replays <- struct{}{}:
	case <-r.Context().Done():
		return view{}, r.Context().Err()
	}
	f, err := os.CreateTemp(a.cfg.ReplayDir, "driftwatch-as-of-*.db")
	if err != nil {
		<-a.replays
		return view{}, fmt.Errorf("as of %s: %w", at.Format(time.RFC3339Nano), err)
	}
	path := f.Name()
	_ = f.Close()
	m := drifts.New()
	runner, err := projections.AsOf(r.Context(), path, projections.Deps{Store: a.Store, Logger: a.Logger}, at, m)
	if err != nil {
		_ = os.Remove(path)
		<-a.replays
		return view{}, unavailable("the read models could not be rebuilt as of "+at.Format(time.RFC3339Nano)+"; retry", err)
	}
	return view{Drifts: m, Now: at, AsOf: at, release: func() {
		_ = runner.Close()
		_ = os.Remove(path)
		<-a.replays
	}}, nil
}
