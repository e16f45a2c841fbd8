// Package command holds driftwatch's command handlers: the decisions people and tools ask
// for through the API and the CLI (tokens, templates, policies, acknowledgements, actions).
// Each checks its input, decides against what the event store holds (never against a read
// model that may lag), records its facts and returns where they landed, so that the caller
// can wait for the read models before it answers. None of them knows about HTTP.
package command
