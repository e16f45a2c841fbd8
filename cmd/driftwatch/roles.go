package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/diff"
	"github.com/driftwatch/driftwatch/handlers/emit"
	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/handlers/policy"
	dockersource "github.com/driftwatch/driftwatch/handlers/source/docker"
	"github.com/driftwatch/driftwatch/pipeline/router"
)

// stage is one pipeline role as the assembly runs it: the read models it needs and how it
// joins the process's router. Its consumer groups and topics are the stage packages' own.
type stage struct {
	name  string
	needs models
	add   func(a *app) error
}

// stages lists the pipeline's stages in flow order. Their names are the roles of `driftwatch
// worker` and of --stages; the consumer groups are the packages' Name constants.
var stages = []stage{
	{name: "ingest", add: func(a *app) error {
		return router.Add(a.router, ingest.Name, ingest.Topic, a.ingest)
	}},
	{name: "enrich", needs: models{catalog: true}, add: func(a *app) error {
		s, err := enrich.New(enrich.Deps{Source: a.desired, States: a.states, Now: a.now})
		if err != nil {
			return err
		}
		if err := router.Add(a.router, enrich.Name, enrich.Topic, s); err != nil {
			return err
		}
		return router.Add(a.router, enrich.RequestsName, enrich.RequestsTopic, enrich.Requests{Enrich: s})
	}},
	{name: "diff", needs: models{catalog: true}, add: func(a *app) error {
		// A container labelled as a CI without desired state is a finding (unmanaged).
		s, err := diff.New(diff.Config{UnmanagedSources: []string{dockersource.Source}},
			diff.Deps{Policies: catalogPolicies{a}, States: a.states, Now: a.now})
		if err != nil {
			return err
		}
		return router.Add(a.router, diff.Name, diff.Topic, s)
	}},
	{name: "policy", add: func(a *app) error {
		s, err := policy.New(a.now)
		if err != nil {
			return err
		}
		return router.Add(a.router, policy.Name, policy.Topic, s)
	}},
	{name: "emit", add: func(a *app) error {
		s, err := emit.New(emit.Config{}, emit.Deps{Store: a.store, Now: a.now})
		if err != nil {
			return err
		}
		return router.Add(a.router, emit.Name, emit.Topic, s)
	}},
	// The action stage: "action" plans from drifts, "action-run" performs what a policy or a
	// person asked for, the lifecycle follows attempts, escalations and tickets.
	{name: "action", add: func(a *app) error {
		p, err := a.planner()
		if err != nil {
			return err
		}
		if err := router.Add(a.router, "action", action.PlannerTopic, p); err != nil {
			return err
		}
		exec, err := a.executor()
		if err != nil {
			return err
		}
		s, err := action.NewRunner(action.RunnerConfig{}, a.store, exec, a.now)
		if err != nil {
			return err
		}
		if err := router.Add(a.router, "action-run", action.RunnerTopic, s); err != nil {
			return err
		}
		l, err := action.NewLifecycle(action.LifecycleConfig{Attempts: a.cfg.Remediation.Attempts}, a.store, a.now)
		if err != nil {
			return err
		}
		rc, err := action.NewRechecker(action.RecheckerConfig{After: a.cfg.Remediation.RecheckAfter},
			action.RecheckerDeps{Store: a.store, Lifecycle: l, Emitter: a.emitter, Logger: a.log.Named("recheck"), Now: a.now})
		if err != nil {
			return err
		}
		a.background = append(a.background, rc.Run)
		return errors.Join(
			router.Add(a.router, action.LifecycleFailedName, action.LifecycleFailedTopic, l.Failures()),
			router.Add(a.router, action.LifecycleSucceededName, action.LifecycleSucceededTopic, l.Successes()),
			router.Add(a.router, action.LifecycleVerdictsName, action.LifecycleVerdictsTopic, l.Verdicts()),
			router.Add(a.router, action.LifecycleResolvedName, action.LifecycleResolvedTopic, l.Resolutions()),
		)
	}},
	// The notify stage tells drift openings, acknowledgements and resolutions to the
	// receivers of --notify-config; serve runs it when that is given.
	{name: "notify", add: func(a *app) error { return a.addNotify() }},
}

// stageNames lists the stages by name.
func stageNames() []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.name
	}
	return out
}

// pick returns the stages named, in flow order, refusing unknown names.
func pick(names []string) ([]stage, error) {
	var out []stage
	for _, n := range names {
		i := slices.IndexFunc(stages, func(s stage) bool { return s.name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown stage %q: want one of %s", n, strings.Join(stageNames(), ", "))
		}
		out = append(out, stages[i])
	}
	slices.SortStableFunc(out, func(x, y stage) int {
		return slices.IndexFunc(stages, func(s stage) bool { return s.name == x.name }) - slices.IndexFunc(stages, func(s stage) bool { return s.name == y.name })
	})
	return out, nil
}

// needs is what the stages need of the read models, together.
func needs(ss []stage) models {
	var m models
	for _, s := range ss {
		m.drifts = m.drifts || s.needs.drifts
		m.catalog = m.catalog || s.needs.catalog
		m.agents = m.agents || s.needs.agents
		m.tokens = m.tokens || s.needs.tokens
		m.counters = m.counters || s.needs.counters
	}
	return m
}
