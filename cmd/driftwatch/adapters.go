package main

import (
	"context"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/api"
)

// catalogPolicies answers policy lookups from the catalogue once it has reached the position
// the stage asks for.
type catalogPolicies struct{ a *app }

// PolicyFor implements diff.PolicySource and enrich.PolicySource.
func (c catalogPolicies) PolicyFor(ctx context.Context, ciType, templateID string, pos eventstore.Position) (drift.Policy, error) {
	if err := c.a.runner.WaitFor(ctx, pos); err != nil {
		return drift.Policy{}, err
	}
	return c.a.catalog.PolicyFor(ctx, ciType, templateID)
}

// reconcileCIs lists the drift read model's CIs for the reconciler.
type reconcileCIs struct{ a *app }

// ReconcileCIs implements enrich.CILister.
func (r reconcileCIs) ReconcileCIs(context.Context) ([]enrich.CI, error) {
	cis, err := r.a.drifts.CIs()
	if err != nil {
		return nil, err
	}
	out := make([]enrich.CI, len(cis))
	for i, c := range cis {
		out[i] = enrich.CI{CIID: c.CIID, CIType: c.CIType, TemplateID: c.TemplateID, Source: c.Source,
			ObservationID: c.LastObservationID, StateHash: c.StateHash, ObservedAt: c.LastObservedAt}
		if e := c.Evaluation; e != nil {
			out[i].Evaluated = &enrich.Evaluated{StateHash: e.StateHash, DesiredHash: e.Desired.Hash, PolicyID: e.PolicyID, PolicyVersion: e.PolicyVersion}
			out[i].VerdictPosition = e.Position
		}
	}
	return out, nil
}

// sweeper is the API's reconciler: every CI.
type sweeper struct{ r *enrich.Reconciler }

// Reconcile implements api.Reconciler.
func (s sweeper) Reconcile(ctx context.Context, reason string) (int, int, error) {
	sw, err := s.r.Reconcile(ctx, reason, nil)
	return sw.CIs, sw.Requested, err
}

// door admits observations at the API through the ingest stage.
type door struct{ in *ingest.Ingest }

// Submit implements api.Door.
func (d door) Submit(ctx context.Context, msg event.Message[event.ObservationSubmitted_v1]) (api.Admission, error) {
	out, err := d.in.Submit(ctx, msg)
	return api.Admission{Status: string(out.Status), ObservationID: out.ObservationID, Rejection: out.Rejection, Records: out.Records, Outcome: out}, err
}

// Published implements api.Door.
func (d door) Published(a api.Admission) {
	if out, ok := a.Outcome.(ingest.Outcome); ok {
		d.in.Published(out)
	}
}

// submitter is the emitter of in-process sources (the Docker watcher): each observation goes
// through ingest at once, as POST /observations does, and what ingest decides is emitted.
type submitter struct{ a *app }

// Emit implements the source's Emitter.
func (s submitter) Emit(ctx context.Context, recs ...event.Record) error {
	for _, r := range recs {
		sub, ok := r.Fact.(event.ObservationSubmitted_v1)
		if !ok {
			if err := s.a.emitter.Emit(ctx, r); err != nil {
				return err
			}
			continue
		}
		out, err := s.a.ingest.Submit(ctx, event.Message[event.ObservationSubmitted_v1]{
			ID: r.ID, Subject: r.Subject, Time: r.Time, CorrelationID: r.CorrelationID, Fact: sub,
		})
		if err != nil {
			return err
		}
		if err := s.a.emitter.Emit(ctx, out.Records...); err != nil {
			return err
		}
		s.a.ingest.Published(out)
	}
	return nil
}

// netboxHook is the API's NetBox webhook receiver.
type netboxHook struct{ s *netbox.Sync }

// Verify implements api.NetBoxHook.
func (h netboxHook) Verify(body []byte, signature string) error { return h.s.Verify(body, signature) }

// Webhook implements api.NetBoxHook.
func (h netboxHook) Webhook(ctx context.Context, body []byte) (any, error) {
	return h.s.Webhook(ctx, body)
}
