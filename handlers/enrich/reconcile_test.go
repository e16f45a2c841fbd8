package enrich_test

import (
	"context"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

type fixedCIs []enrich.CI

func (c fixedCIs) ReconcileCIs(context.Context) ([]enrich.CI, error) { return c, nil }

type oneDesired drift.Desired

func (oneDesired) Name() string { return "template" }

func (d oneDesired) Desired(context.Context, enrich.Query) (drift.Desired, bool, error) {
	return drift.Desired(d), true, nil
}

type onePolicy drift.Policy

func (p onePolicy) PolicyFor(context.Context, string, string, string, eventstore.Position) (drift.Policy, error) {
	return drift.Policy(p), nil
}

type keptRecords struct{ recs []event.Record }

func (k *keptRecords) Emit(_ context.Context, recs ...event.Record) error {
	k.recs = append(k.recs, recs...)
	return nil
}

func TestReconcileJudgesAgainOnceAnExceptionThatShapedTheVerdictExpired(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	judged := &enrich.Evaluated{StateHash: "sha256:s", DesiredHash: "sha256:d", PolicyID: "p", PolicyVersion: 2, ExceptedUntil: expiry}
	cis := fixedCIs{{CIID: "vm-1", CIType: "vm", StateHash: "sha256:s", Evaluated: judged}}
	for _, c := range []struct {
		name string
		now  time.Time
		want int
	}{
		{"leaves_the_ci_while_the_exception_holds", expiry.Add(-time.Second), 0},
		{"judges_the_ci_again_once_it_expired", expiry, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := &keptRecords{}
			r, err := enrich.NewReconciler(enrich.ReconcilerDeps{CIs: cis, Source: oneDesired{Source: "template", BaselineHash: "sha256:d"},
				Policies: onePolicy{ID: "p", Version: 2}, Emitter: out, Now: func() time.Time { return c.now }})
			if err != nil {
				t.Fatal(err)
			}
			sw, err := r.Reconcile(t.Context(), "reconcile", nil)
			if err != nil || sw.Requested != c.want || len(out.recs) != c.want {
				t.Fatalf("sweep %+v, %d requests, %v; want %d", sw, len(out.recs), err, c.want)
			}
		})
	}
}
