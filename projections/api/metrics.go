package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics times every request by route (its pattern in the route table, never the raw
// path, so that ids do not explode the label space) and status code.
type httpMetrics struct {
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "driftwatch", Subsystem: "api", Name: "request_duration_seconds",
		Help:    "Time to answer an API request, by route and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "code"})}
	if err := reg.Register(m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// registerWaiters adds the gauge of requests waiting for an action's outcome on watch.
func registerWaiters(reg prometheus.Registerer, watch interface{ Waiters() int }) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "driftwatch", Subsystem: "api", Name: "action_waiters",
		Help: "Requests waiting for an action's outcome; they share one event-store subscription.",
	}, func() float64 { return float64(watch.Waiters()) }))
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets the event stream flush through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// timed observes h's duration under rt's pattern.
func (m *httpMetrics) timed(rt Route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		m.duration.WithLabelValues(rt.Pattern(), strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

// metrics is GET /metrics: the Prometheus text exposition of every metric of the process.
func (a *api) metrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
	return nil
}
