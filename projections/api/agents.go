package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/agents"
)

// AgentDirectory is the agents read model; *agents.Model implements it.
type AgentDirectory interface {
	Agent(id string) (agents.Agent, bool, error)
	Agents() ([]agents.Agent, error)
	Rejections(limit int) ([]agents.Rejection, error)
}

// enrolment is the body of POST /agents.
type enrolment struct {
	AgentID   string   `json:"agent_id"`
	CIIDs     []string `json:"ci_ids"`
	Algorithm string   `json:"algorithm,omitempty"`
	PublicKey string   `json:"public_key"`
}

// agentIDPattern keeps agent ids printable and usable in stream names and URLs.
var agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// validate normalises the enrolment and reports every problem at once.
func (e *enrolment) validate() error {
	var errs []error
	if !agentIDPattern.MatchString(e.AgentID) {
		errs = append(errs, fmt.Errorf("agent_id: %q must be 1 to 128 letters, digits, '.', '_' or '-'", e.AgentID))
	}
	if len(e.CIIDs) == 0 {
		errs = append(errs, errors.New("ci_ids: at least one CI is required"))
	}
	for i := range e.CIIDs {
		e.CIIDs[i] = strings.TrimSpace(e.CIIDs[i])
		if e.CIIDs[i] == "" {
			errs = append(errs, fmt.Errorf("ci_ids[%d]: must not be blank", i))
		}
	}
	slices.Sort(e.CIIDs)
	e.CIIDs = slices.Compact(e.CIIDs)
	if e.Algorithm == "" {
		e.Algorithm = event.KeyAlgorithmEd25519
	}
	if e.Algorithm != event.KeyAlgorithmEd25519 {
		errs = append(errs, fmt.Errorf("algorithm: %q is not supported; use %s", e.Algorithm, event.KeyAlgorithmEd25519))
	}
	if _, err := event.ParsePublicKey(e.PublicKey); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// enrolAgent is POST /agents (an admin token, or the enrolment token): records the agent's
// credential (AgentEnrolled_v1). 201 for a new agent, 200 when it replaces or repeats the
// agent's credential; the answer comes once the read models (and so ingest) know it.
func (a *api) enrolAgent(w http.ResponseWriter, r *http.Request) error {
	var in enrolment
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return invalid("enrolment", err)
	}
	ctx := r.Context()
	h, err := readHead[event.AgentEnrolled_v1](ctx, a.Store, event.StreamOf(event.TypeAgentEnrolled, in.AgentID))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if h.Expected != eventstore.NoStream {
		status = http.StatusOK
	}
	same := h.Fact.PublicKey == in.PublicKey && slices.Equal(h.Fact.CIIDs, in.CIIDs) && h.Fact.Algorithm == in.Algorithm
	if !same {
		f := event.AgentEnrolled_v1{AgentID: in.AgentID, CIIDs: in.CIIDs, Algorithm: in.Algorithm, PublicKey: in.PublicKey, EnrolledAt: a.Now().UTC()}
		if err := a.record(ctx, in.AgentID, f, h.Expected); err != nil {
			return err
		}
	}
	ag, found, err := a.Agents.Agent(in.AgentID)
	if err != nil {
		return fmt.Errorf("read agent %s: %w", in.AgentID, err)
	}
	if !found {
		return unavailable("the enrolment is recorded but the read models have not applied it yet", nil)
	}
	w.Header().Set("Location", "/agents/"+url.PathEscape(in.AgentID))
	return writeJSON(w, status, ag)
}

// listAgents is GET /agents, by agent id.
func (a *api) listAgents(w http.ResponseWriter, _ *http.Request) error {
	l, err := a.Agents.Agents()
	if err != nil {
		return fmt.Errorf("list agents: %w", err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": l, "total": len(l)})
}

// getAgent is GET /agents/{id}.
func (a *api) getAgent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ag, found, err := a.Agents.Agent(id)
	if err != nil {
		return fmt.Errorf("read agent %s: %w", id, err)
	}
	if !found {
		return notFound("agent", id)
	}
	return writeJSON(w, http.StatusOK, ag)
}

// listRejections is GET /observations/rejected: the latest observations ingest rejected for
// their credentials, newest first; limit as for drift events.
func (a *api) listRejections(w http.ResponseWriter, r *http.Request) error {
	limit := a.cfg.DefaultPageSize
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > a.cfg.MaxPageSize {
			reason := fmt.Sprintf("%q must be a whole number from 1 to %d", s, a.cfg.MaxPageSize)
			return badRequest("limit: "+reason, InvalidParam{Name: "limit", Reason: reason})
		}
		limit = n
	}
	l, err := a.Agents.Rejections(limit)
	if err != nil {
		return fmt.Errorf("list rejections: %w", err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": l, "total": len(l)})
}
