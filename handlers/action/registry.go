package action

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Registry is the Executor of the action stage: it hands each request to the executor
// registered for its kind (the Docker executor for quarantine, release, start and stop; a
// playbook or script runner for the kinds it serves). A kind nobody registered is a permanent
// failure that names the kinds there are, and how to get one.
type Registry struct {
	byKind map[drift.ActionKind]Executor
	// Missing says how an operator would enable an executor; it ends the error for a kind
	// nobody registered.
	Missing string
}

// Register makes e the executor of kinds. A kind registered twice is refused: which executor
// acts must not depend on the order of registration.
func (r *Registry) Register(e Executor, kinds ...drift.ActionKind) error {
	if r.byKind == nil {
		r.byKind = map[drift.ActionKind]Executor{}
	}
	for _, k := range kinds {
		if _, ok := r.byKind[k]; ok {
			return fmt.Errorf("action executor registry: kind %q is registered twice", k)
		}
	}
	for _, k := range kinds {
		r.byKind[k] = e
	}
	return nil
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []drift.ActionKind {
	out := make([]drift.ActionKind, 0, len(r.byKind))
	for k := range r.byKind {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Execute implements Executor.
func (r *Registry) Execute(ctx context.Context, req Request) (Outcome, error) {
	if e, ok := r.byKind[req.Kind]; ok {
		return e.Execute(ctx, req)
	}
	var kinds []string
	for _, k := range r.Kinds() {
		kinds = append(kinds, string(k))
	}
	known := "none is registered"
	if len(kinds) > 0 {
		known = "registered: " + strings.Join(kinds, ", ")
	}
	msg := fmt.Sprintf("no executor can %s %s (%s)", req.Kind, req.CIID, known)
	if r.Missing != "" {
		msg += "; " + r.Missing
	}
	return Outcome{}, fault.Permanent(fmt.Errorf("%s", msg))
}
