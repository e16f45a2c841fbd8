package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// newRegistry is the process's Prometheus registry with the Go runtime and process metrics.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// observeAppends wraps store so that every append's latency lands in reg.
func observeAppends(reg prometheus.Registerer, store eventstore.Store) (eventstore.Store, error) {
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "driftwatch", Subsystem: "eventstore", Name: "append_duration_seconds",
		Help:    "Time for an append to the event store to be durable, by outcome.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"outcome"})
	events := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "driftwatch", Subsystem: "eventstore", Name: "appended_events_total",
		Help: "Events offered to the event store in successful appends (stored ones skipped count too).",
	})
	for _, c := range []prometheus.Collector{latency, events} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return eventstore.Observed{Store: store, OnAppend: func(d time.Duration, n int, err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		latency.WithLabelValues(outcome).Observe(d.Seconds())
		if err == nil {
			events.Add(float64(n))
		}
	}}, nil
}

// stateCollector reads, at every scrape, the figures that live in the read models, the bus
// and the store: drifts by severity, category and status (the same counts as GET
// /drift/report), actions by kind and outcome, parked messages, consumer-group lag and how far
// the read models are behind the store.
type stateCollector struct {
	a *app

	bySeverity, byCategory, actions, poison, groupLag, projLag *prometheus.Desc
}

func newStateCollector(a *app) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("driftwatch_"+name, help, labels, nil)
	}
	return &stateCollector{a: a,
		bySeverity: d("drifts_by_severity", "Drifts by severity and status (open, acknowledged, resolved), as GET /drift/report counts them.", "severity", "status"),
		byCategory: d("drifts_by_category", "Drifts by category and status, as GET /drift/report counts them.", "category", "status"),
		actions:    d("actions_total", "Actions performed, by kind and outcome (succeeded, failed).", "kind", "outcome"),
		poison:     d("poison_total", "Messages parked in the poison stream, by the stage that parked them.", "stage"),
		groupLag:   d("bus_group_lag", "Entries a consumer group has left: not yet delivered, or delivered and not acknowledged.", "topic", "group"),
		projLag:    d("projections_lag_events", "Events in the event store that the read models have not applied yet."),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bySeverity, c.byCategory, c.actions, c.poison, c.groupLag, c.projLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A figure that cannot be read is left out.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	if a.drifts != nil {
		if r, err := a.drifts.Report(); err == nil {
			for sev, n := range r.BySeverity {
				emitCounts(ch, c.bySeverity, string(sev), n)
			}
			for cat, n := range r.ByCategory {
				emitCounts(ch, c.byCategory, string(cat), n)
			}
		}
	}
	if a.counters != nil {
		if t, err := a.counters.Totals(); err == nil {
			for _, x := range t.Actions {
				ch <- prometheus.MustNewConstMetric(c.actions, prometheus.CounterValue, float64(x.N), x.Kind, x.Outcome)
			}
			for stage, n := range t.Poison {
				ch <- prometheus.MustNewConstMetric(c.poison, prometheus.CounterValue, float64(n), stage)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if l, ok := a.bus.(bus.Lagger); ok {
		if lags, err := l.Lags(ctx); err == nil {
			for _, g := range lags {
				ch <- prometheus.MustNewConstMetric(c.groupLag, prometheus.GaugeValue, float64(g.Waiting), g.Topic, g.Group)
			}
		}
	}
	if h, ok := a.store.(eventstore.Header); ok && a.runner != nil {
		if head, err := h.Head(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.projLag, prometheus.GaugeValue, float64(max(int64(head)-int64(a.runner.Position()), 0)))
		}
	}
}

func emitCounts(ch chan<- prometheus.Metric, d *prometheus.Desc, value string, n drifts.Counts) {
	for status, v := range map[string]int{"open": n.Open, "acknowledged": n.Acknowledged, "remediating": n.Remediating, "escalated": n.Escalated, "resolved": n.Resolved} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), value, status)
	}
}
