package api

import (
	"context"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// The commands the API calls. Each decides against the event store and returns where its
// facts landed, so that a handler can wait for the read models before it answers; their
// refusals are typed (see commandError). Package handlers/command implements them.

// TemplateCommands changes templates; command.Templates implements it.
type TemplateCommands interface {
	Create(ctx context.Context, t drift.Template) (drift.Template, eventstore.Position, error)
	Put(ctx context.Context, t drift.Template) (tm drift.Template, created bool, pos eventstore.Position, err error)
	Delete(ctx context.Context, id string) (eventstore.Position, error)
}

// PolicyCommands changes policies; command.Policies implements it. Patch hands edit the
// current policy and records what it returns.
type PolicyCommands interface {
	Create(ctx context.Context, p drift.Policy) (drift.Policy, eventstore.Position, error)
	Patch(ctx context.Context, id string, edit func(drift.Policy) (drift.Policy, error)) (drift.Policy, eventstore.Position, error)
}

// AckCommands acknowledges drifts; command.Acknowledgements implements it. It returns the
// recorded acknowledgement with its position.
type AckCommands interface {
	Acknowledge(ctx context.Context, ciID, driftID, by, comment string) (event.Record, error)
}

// ActionCommands asks for actions on the CI of a drift; command.Actions implements it. Each
// returns the ActionRequested_v1 that stands for the request, with its position (its
// outcome comes after it), and the success already recorded for it, if any.
type ActionCommands interface {
	Request(ctx context.Context, ciID, driftID string, kind drift.ActionKind, by, reason string) (event.Record, *event.Envelope, error)
	Remediate(ctx context.Context, ciID, driftID, by, reason string) (event.Record, *event.Envelope, error)
}
