package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/driftwatch/driftwatch/handlers/ingest"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections"
	"github.com/driftwatch/driftwatch/projections/agents"
	"github.com/driftwatch/driftwatch/projections/drifts"
)

// agentSettings is what the environment says about agent credentials.
type agentSettings struct {
	// RequireSigned makes ingest reject observations that no enrolled agent signed; default
	// off, so that unsigned sources (curl, scripts) keep working ($DRIFTWATCH_REQUIRE_SIGNED).
	RequireSigned bool
	// EnrolToken is the operator's token for POST /agents ($DRIFTWATCH_ENROL_TOKEN, or the
	// first line of the file $DRIFTWATCH_ENROL_TOKEN_FILE names); default empty: enrolment is
	// refused.
	EnrolToken string
}

// agentSettingsFromEnv reads agentSettings, reporting every problem at once.
func agentSettingsFromEnv() (agentSettings, error) {
	var s agentSettings
	var errs []error
	if v := os.Getenv("DRIFTWATCH_REQUIRE_SIGNED"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DRIFTWATCH_REQUIRE_SIGNED: %q is not a boolean", v))
		}
		s.RequireSigned = on
	}
	s.EnrolToken = os.Getenv("DRIFTWATCH_ENROL_TOKEN")
	if path := os.Getenv("DRIFTWATCH_ENROL_TOKEN_FILE"); path != "" {
		switch raw, err := os.ReadFile(path); {
		case s.EnrolToken != "":
			errs = append(errs, errors.New("DRIFTWATCH_ENROL_TOKEN_FILE: set only one of it and DRIFTWATCH_ENROL_TOKEN"))
		case err != nil:
			errs = append(errs, fmt.Errorf("DRIFTWATCH_ENROL_TOKEN_FILE: %w", err))
		default:
			s.EnrolToken, _, _ = strings.Cut(strings.TrimSpace(string(raw)), "\n")
		}
	}
	if s.EnrolToken != "" && len(s.EnrolToken) < 16 {
		errs = append(errs, errors.New("enrolment token: must be at least 16 characters"))
	}
	return s, errors.Join(errs...)
}

// ingestDeps is what the ingest stage needs beyond the clock.
type ingestDeps struct {
	// Credentials are the enrolled agents (the agents read model); nil rejects every
	// observation that names an agent.
	Credentials ingest.Credentials
	// RequireSigned rejects unsigned observations.
	RequireSigned bool
	// Known lets unsigned re-submissions of a CI's last state (reconcile) pass; optional.
	Known ingest.KnownStates
	// Logger logs each rejected observation once.
	Logger *zap.Logger
}

// newIngest builds the ingest stage, decorated to log its rejections.
func newIngest(d ingestDeps, now func() time.Time) (*ingest.Rejections, error) {
	opts := []ingest.Option{ingest.RequireSigned(d.RequireSigned)}
	if d.Credentials != nil {
		opts = append(opts, ingest.WithCredentials(d.Credentials))
	}
	if d.Known != nil {
		opts = append(opts, ingest.WithKnownStates(d.Known))
	}
	s, err := ingest.New(now, opts...)
	if err != nil {
		return nil, err
	}
	return ingest.LogRejections(s, d.Logger)
}

// localCredentials gives a worker that runs ingest alone its own agents read model: opened in
// the data dir, caught up, then kept current in g. Close the returned closer after g ends.
func localCredentials(ctx context.Context, g *errgroup.Group, c config, store eventstore.Store, log *zap.Logger) (*agents.Model, io.Closer, error) {
	model := agents.New()
	runner, err := projections.New(projections.Config{Path: filepath.Join(c.DataDir, "ingest-agents.db")},
		projections.Deps{Store: store, Logger: log.Named("agents")}, model)
	if err != nil {
		return nil, nil, fmt.Errorf("open agents read model: %w", err)
	}
	if err := runner.CatchUp(ctx); err != nil {
		_ = runner.Close()
		return nil, nil, fmt.Errorf("catch up agents read model: %w", err)
	}
	g.Go(func() error { return runner.Run(ctx) })
	return model, runner, nil
}

// lastStates reads the CIs' last accepted state hashes from the drift read model.
type lastStates struct{ m *drifts.Model }

// LastStateHash implements ingest.KnownStates.
func (l lastStates) LastStateHash(_ context.Context, ci string) (string, bool, error) {
	c, found, err := l.m.CI(ci)
	return c.StateHash, found && c.StateHash != "", err
}
