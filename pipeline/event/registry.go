package event

import (
	"strings"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/pipeline/topic"
)

// CloudEvents types of every fact. The suffix is the schema version.
const (
	TypeObservationSubmitted = "io.driftwatch.observation.submitted.v1"
	TypeObservationReceived  = "io.driftwatch.observation.received.v1"
	TypeDesiredStateResolved = "io.driftwatch.desired_state.resolved.v1"
	TypeDiffComputed         = "io.driftwatch.diff.computed.v1"
	TypePolicyEvaluated      = "io.driftwatch.policy.evaluated.v1"
	TypeDriftDetected        = "io.driftwatch.drift.detected.v1"
	TypeDriftResolved        = "io.driftwatch.drift.resolved.v1"
	TypeDriftAcknowledged    = "io.driftwatch.drift.acknowledged.v1"
	TypePolicyChanged        = "io.driftwatch.policy.changed.v1"
	TypeTemplateChanged      = "io.driftwatch.template.changed.v1"
	TypePoison               = "io.driftwatch.poison.v1"
	TypeAgentEnrolled        = "io.driftwatch.agent.enrolled.v1"
	TypeObservationRejected  = "io.driftwatch.observation.rejected.v1"
	TypeActionRequested      = "io.driftwatch.action.requested.v1"
	TypeActionSucceeded      = "io.driftwatch.action.succeeded.v1"
	TypeActionFailed         = "io.driftwatch.action.failed.v1"
	TypeDriftEscalated       = "io.driftwatch.drift.escalated.v1"
	TypeDriftPlanned         = "io.driftwatch.drift.planned.v1"

	TypeDriftUpdated           = "io.driftwatch.drift.updated.v1"
	TypeStateRecorded          = "io.driftwatch.state.recorded.v1"
	TypeObservationReceivedV2  = "io.driftwatch.observation.received.v2"
	TypeObservationUnchanged   = "io.driftwatch.observation.unchanged.v1"
	TypeEvaluationRequested    = "io.driftwatch.evaluation.requested.v1"
	TypeDesiredStateResolvedV2 = "io.driftwatch.desired_state.resolved.v2"
	TypeDiffComputedV2         = "io.driftwatch.diff.computed.v2"
	TypePolicyEvaluatedV2      = "io.driftwatch.policy.evaluated.v2"

	TypeTokenCreated       = "io.driftwatch.token.created.v1"
	TypeTokenRevoked       = "io.driftwatch.token.revoked.v1"
	TypeTokensBootstrapped = "io.driftwatch.tokens.bootstrapped.v1"

	TypeTemplatesRanked = "io.driftwatch.templates.ranked.v1"

	TypeNotificationSent = "io.driftwatch.notification.sent.v1"
)

// route says where a fact type travels: its bus topic and its event-store stream prefix.
type route struct {
	topic  string
	stream string
}

var routes = map[string]route{
	TypeObservationSubmitted: {topic: topic.Observations},
	TypeObservationReceived:  {topic: topic.ObservationReceived, stream: "ci-"},
	TypeDesiredStateResolved: {topic: topic.DesiredStateResolved, stream: "ci-"},
	TypeDiffComputed:         {topic: topic.DiffComputed, stream: "ci-"},
	TypePolicyEvaluated:      {topic: topic.PolicyEvaluated, stream: "ci-"},
	TypeDriftDetected:        {topic: topic.DriftDetected, stream: DriftStreamPrefix},
	TypeDriftResolved:        {topic: topic.DriftResolved, stream: DriftStreamPrefix},
	TypeDriftAcknowledged:    {topic: topic.DriftAcknowledged, stream: DriftStreamPrefix},
	TypePolicyChanged:        {stream: "policy-"},
	TypeTemplateChanged:      {stream: "template-"},
	TypePoison:               {topic: topic.Poison, stream: "poison-"},
	TypeAgentEnrolled:        {stream: "agent-"},
	TypeObservationRejected:  {topic: topic.ObservationRejected, stream: "rejected-"},
	TypeActionRequested:      {topic: topic.ActionRequested, stream: ActionStreamPrefix},
	TypeActionSucceeded:      {topic: topic.ActionSucceeded, stream: ActionStreamPrefix},
	TypeActionFailed:         {topic: topic.ActionFailed, stream: ActionStreamPrefix},
	TypeDriftEscalated:       {topic: topic.DriftEscalated, stream: DriftStreamPrefix},
	TypeDriftPlanned:         {topic: topic.DriftPlanned, stream: DriftStreamPrefix},

	TypeDriftUpdated:           {topic: topic.DriftUpdated, stream: DriftStreamPrefix},
	TypeStateRecorded:          {stream: "state-"},
	TypeObservationReceivedV2:  {topic: topic.ObservationReceivedV2, stream: ObservationStreamPrefix},
	TypeObservationUnchanged:   {stream: ObservationStreamPrefix},
	TypeEvaluationRequested:    {topic: topic.EvaluationRequested, stream: EvaluationStreamPrefix},
	TypeDesiredStateResolvedV2: {topic: topic.DesiredStateResolvedV2, stream: EvaluationStreamPrefix},
	TypeDiffComputedV2:         {topic: topic.DiffComputedV2, stream: EvaluationStreamPrefix},
	TypePolicyEvaluatedV2:      {topic: topic.PolicyEvaluatedV2, stream: EvaluationStreamPrefix},

	TypeTokenCreated:       {stream: TokenStreamPrefix},
	TypeTokenRevoked:       {stream: TokenStreamPrefix},
	TypeTokensBootstrapped: {stream: TokensBootstrapStream},

	TypeTemplatesRanked: {stream: "precedence-"},

	TypeNotificationSent: {stream: NotificationStreamPrefix},
}

// ObservationStreamPrefix starts the event-store stream of one CI's observations
// (received, unchanged): the ingest stage owns it and appends with optimistic concurrency.
const ObservationStreamPrefix = "observation-"

// EvaluationStreamPrefix starts the event-store stream of one CI's evaluations: requested
// re-evaluations, resolved desired states, diffs and verdicts.
const EvaluationStreamPrefix = "evaluation-"

// ActionStreamPrefix starts the event-store stream that holds one CI's actions (requested,
// succeeded, failed).
const ActionStreamPrefix = "action-"

// NotificationStreamPrefix starts the event-store stream of one drift's notifications (its
// subject is the drift id).
const NotificationStreamPrefix = "notification-"

// DriftStreamPrefix starts the event-store stream that holds one CI's drift lifecycle
// (detected, acknowledged, resolved); decisions on it use optimistic concurrency.
const DriftStreamPrefix = "drift-"

// Known reports whether typ is a registered fact type.
func Known(typ string) bool { _, ok := routes[typ]; return ok }

// TopicOf returns the bus topic a fact type is published on, or "" if it is not published.
func TopicOf(typ string) string { return routes[typ].topic }

// StreamOf returns the event-store stream a fact with this type and subject is appended to, or
// "" if facts of this type are not stored.
func StreamOf(typ, subject string) string {
	r := routes[typ]
	if r.stream == "" {
		return ""
	}
	return r.stream + subject
}

// namespace scopes derived ids to driftwatch.
var namespace = uuid.MustParse("6f1d7a2e-55c4-4b8e-9a57-0d5d1e6f3a10")

// DeriveID returns a stable UUID (version 5) for the given parts. A handler that derives its
// output ids from its input id emits the same ids when a message is delivered twice, so the
// event store and downstream consumers drop the copy.
func DeriveID(parts ...string) string {
	return uuid.NewSHA1(namespace, []byte(strings.Join(parts, "\x00"))).String()
}
