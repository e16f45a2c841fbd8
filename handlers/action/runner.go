package action

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/ledger"
)

// RunnerConfig tunes the runner. The zero value is the default.
type RunnerConfig struct {
	// Attempts is how many times an action that fails with a retryable error is tried (the
	// router's retry middleware delivers it again with backoff) before ActionFailed_v1 is
	// recorded; default 3. Keep it at most the router's MaxRetries+1, or the poison queue
	// takes the request first.
	Attempts int
}

// Runner consumes ActionRequested_v1, performs the action through its Executor and emits
// ActionSucceeded_v1 or, when the action fails permanently or keeps failing, ActionFailed_v1;
// both go to the CI's action stream. A release is given the networks that the quarantine in
// force recorded.
//
// A request whose NotBefore has not come is left alone: the Rechecker delivers it again when
// it comes. The executor gets the drift the action answers as the CI's drift ledger knows it (its
// latest actual value, severity, policy and, for a playbook or script asked without a
// target, the policy's script). A policy's request for a drift that was resolved before the
// action ran is not performed (but for a release and ticket updates and closes): it is
// recorded as failed, not retryable, with that reason. A run's rc, status, output and events
// and a ticket's number are kept in the outcome's fact.
//
// Idempotent: a request for an action that already succeeded returns the recorded success
// again, without performing it; one that failed is performed again when asked again (a new
// failure is a new fact, numbered by attempt). Safe for concurrent use if the executor is.
type Runner struct {
	cfg   RunnerConfig
	store eventstore.Store
	exec  Executor
	now   func() time.Time

	mu    sync.Mutex
	tries map[string]int // retryable failures by request message id
}

// NewRunner returns the runner; store, exec and now are required.
func NewRunner(cfg RunnerConfig, store eventstore.Store, exec Executor, now func() time.Time) (*Runner, error) {
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	var errs []error
	if cfg.Attempts < 1 {
		errs = append(errs, fmt.Errorf("attempts: %d must be at least 1", cfg.Attempts))
	}
	if store == nil {
		errs = append(errs, errors.New("event store: required"))
	}
	if exec == nil {
		errs = append(errs, errors.New("executor: required"))
	}
	if now == nil {
		errs = append(errs, errors.New("clock: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new action runner: %w", err)
	}
	return &Runner{cfg: cfg, store: store, exec: exec, now: now, tries: map[string]int{}}, nil
}

// Handle implements router.Stage.
func (r *Runner) Handle(ctx context.Context, in event.Message[event.ActionRequested_v1]) ([]event.Record, error) {
	a := in.Fact
	if err := validRequest(a); err != nil {
		return nil, fault.Permanent(fmt.Errorf("invalid action request %s: %w", in.ID, err))
	}
	h, err := loadHistory(ctx, r.store, a.CIID)
	if err != nil {
		return nil, err
	}
	if done, ok := h.succeeded[a.ActionID]; ok {
		return []event.Record{done}, nil
	}
	if a.NotBefore.After(r.now()) {
		return nil, nil // its maintenance window is not open: the rechecker asks again then
	}
	l, err := ledger.Load(ctx, r.store, a.CIID)
	if err != nil {
		return nil, err
	}
	if moot := r.moot(l, a); moot != "" {
		return []event.Record{r.failed(in, h, moot, false, Outcome{})}, nil
	}
	req := request(a, l)
	if a.Kind == drift.ActionKindRelease {
		req.Networks = h.quarantine
	}
	out, err := r.exec.Execute(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // shutting down: the request is delivered again later
		}
		if !fault.IsPermanent(err) && r.retry(in.ID) {
			return nil, fmt.Errorf("%s %s: %w", a.Kind, a.CIID, err)
		}
		return []event.Record{r.failed(in, h, err.Error(), !fault.IsPermanent(err), out)}, nil
	}
	r.forget(in.ID)
	return []event.Record{r.record(in, event.DeriveID("action-succeeded", a.ActionID), event.ActionSucceeded_v1{
		ActionID: a.ActionID, Kind: a.Kind, CIID: a.CIID, DriftID: a.DriftID, Changed: out.Changed,
		Target: out.Target, Networks: out.Networks, QuarantineNetwork: out.QuarantineNetwork,
		Detail: out.Detail, CompletedAt: r.now().UTC(), Attempt: a.Attempt, Run: run(out), Ticket: ticketRef(out.Ticket),
	})}, nil
}

// request is what the executor gets: the fact's request, with the drift it answers as the
// CI's ledger knows it now (its latest actual value, its policy's script).
func request(a event.ActionRequested_v1, l *ledger.Ledger) Request {
	req := Request{
		ActionID: a.ActionID, Kind: a.Kind, CIID: a.CIID, CIType: a.CIType, Target: a.Target,
		DriftID: a.DriftID, Field: a.Field, Desired: a.Desired, PolicyID: a.PolicyID, Attempt: a.Attempt,
		Note: a.Note, CloseCode: a.CloseCode, Related: a.Related, At: a.RequestedAt,
	}
	if t := a.Ticket; t != nil {
		req.Ticket = &Ticket{Kind: TicketKind(t.Kind), ID: t.ID, Number: t.Number, URL: t.URL}
	}
	if d, ok := l.Get(a.DriftID); ok {
		f := d.Detected
		req.Field, req.Desired, req.Actual = f.Field, f.Desired, d.Actual
		req.Severity, req.Category, req.Detail, req.PolicyID = f.Severity, f.Category, f.Detail, f.PolicyID
		if req.CIType == "" {
			req.CIType = f.CIType
		}
		if req.Target == "" && (a.Kind == drift.ActionKindPlaybook || a.Kind == drift.ActionKindScript) {
			req.Target = f.Script
		}
	}
	return req
}

// moot says why a policy's action on a drift is no longer wanted: the drift was resolved
// before the action ran (the container was started by hand, connected back). A person's
// request, a release and a ticket's update or close always run.
func (r *Runner) moot(l *ledger.Ledger, a event.ActionRequested_v1) string {
	switch {
	case a.RequestedBy != RequestedByPolicy || a.DriftID == "":
		return ""
	case a.Kind == drift.ActionKindRelease || a.Kind == drift.ActionKindTicketUpdate || a.Kind == drift.ActionKindTicketClose:
		return ""
	}
	if d, ok := l.Get(a.DriftID); ok && d.Status == drift.StatusResolved {
		return fmt.Sprintf("not performed: drift %s was resolved before the action ran", a.DriftID)
	}
	return ""
}

// failed records a failure of the action, numbered after the failures already recorded.
func (r *Runner) failed(in event.Message[event.ActionRequested_v1], h *history, reason string, retryable bool, out Outcome) event.Record {
	a := in.Fact
	attempt := h.failures[a.ActionID] + 1
	return r.record(in, event.DeriveID("action-failed", a.ActionID, strconv.Itoa(attempt)), event.ActionFailed_v1{
		ActionID: a.ActionID, Kind: a.Kind, CIID: a.CIID, DriftID: a.DriftID, Attempt: attempt,
		Reason: reason, Retryable: retryable, FailedAt: r.now().UTC(), RemediationAttempt: a.Attempt, Run: run(out),
	})
}

// run is what a playbook or script run left, for the facts; nil when nothing ran.
func run(o Outcome) *event.Run {
	if o.RC == nil && o.Status == "" && o.Output == "" && len(o.Events) == 0 {
		return nil
	}
	r := &event.Run{RC: o.RC, Status: o.Status, Output: o.Output}
	for _, e := range o.Events {
		r.Events = append(r.Events, event.RunEvent(e))
	}
	return r
}

func ticketRef(t *Ticket) *event.TicketRef {
	if t == nil {
		return nil
	}
	return &event.TicketRef{Kind: string(t.Kind), ID: t.ID, Number: t.Number, URL: t.URL}
}

func validRequest(a event.ActionRequested_v1) error {
	var errs []error
	if a.ActionID == "" {
		errs = append(errs, errors.New("action_id: required"))
	}
	if a.CIID == "" {
		errs = append(errs, errors.New("ci_id: required"))
	}
	if !a.Kind.Valid() {
		errs = append(errs, fmt.Errorf("kind: %q is not an action kind", a.Kind))
	}
	return errors.Join(errs...)
}

// retry counts a retryable failure of a request and reports whether to let the router try
// it again; when the attempts are spent it forgets the request.
func (r *Runner) retry(msgID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries[msgID]++
	if r.tries[msgID] < r.cfg.Attempts {
		return true
	}
	delete(r.tries, msgID)
	return false
}

func (r *Runner) forget(msgID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tries, msgID)
}

func (r *Runner) record(in event.Message[event.ActionRequested_v1], id string, f event.Fact) event.Record {
	return event.Record{ID: id, Subject: in.Fact.CIID, Time: r.now(), CorrelationID: in.CorrelationID, CausationID: in.ID, Fact: f}
}
