package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/diff"
	"github.com/driftwatch/driftwatch/handlers/emit"
	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/enrich/template"
	"github.com/driftwatch/driftwatch/handlers/policy"
	dockersource "github.com/driftwatch/driftwatch/handlers/source/docker"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/router"
	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// stageNames lists the pipeline's stages in flow order. The names are the Redis consumer
// groups: never rename one.
var stageNames = []string{"ingest", "enrich", "diff", "policy", "emit", "action"}

// stageCatalog is what the stages read of the template and policy catalogue.
type stageCatalog interface {
	template.Catalog
	PolicyFor(ctx context.Context, ciType, templateID string) (drift.Policy, error)
}

// addStages adds the named stages to r; ing configures ingest's credential checks, exec is
// the action stage's executor.
func addStages(r *router.Router, names []string, store eventstore.Store, cat stageCatalog, ing ingestDeps, exec action.Executor, now func() time.Time) error {
	for _, n := range names {
		if !slices.Contains(stageNames, n) {
			return fmt.Errorf("unknown stage %q: want one of %v", n, stageNames)
		}
	}
	stages := map[string]func() error{
		"ingest": func() error {
			s, err := newIngest(ing, now)
			return add(r, "ingest", topic.Observations, s, err)
		},
		"enrich": func() error {
			src, err := template.New(cat)
			if err != nil {
				return err
			}
			s, err := enrich.New(src, now)
			return add(r, "enrich", topic.ObservationReceived, s, err)
		},
		"diff": func() error {
			// A container labelled as a CI without desired state is a finding (unmanaged).
			s, err := diff.New(diff.Config{UnmanagedSources: []string{dockersource.Source}}, cat, now)
			return add(r, "diff", topic.DesiredStateResolved, s, err)
		},
		"policy": func() error {
			s, err := policy.New(now)
			return add(r, "policy", topic.DiffComputed, s, err)
		},
		"emit": func() error {
			s, err := emit.New(store, now)
			return add(r, "emit", topic.PolicyEvaluated, s, err)
		},
		// The action stage: "action" plans from drifts, "action-run" performs what a policy
		// or a person asked for.
		"action": func() error {
			p, err := action.NewPlanner(now)
			if err := add(r, "action", topic.DriftDetected, p, err); err != nil {
				return err
			}
			s, err := action.NewRunner(action.RunnerConfig{}, store, exec, now)
			return add(r, "action-run", topic.ActionRequested, s, err)
		},
	}
	for _, n := range names {
		if err := stages[n](); err != nil {
			return fmt.Errorf("add stage %s: %w", n, err)
		}
	}
	return nil
}

// add adds a freshly built stage, passing on the error of its constructor.
func add[In event.Fact](r *router.Router, name, topic string, s router.Stage[In], err error) error {
	if err != nil {
		return err
	}
	return router.Add(r, name, topic, s)
}
