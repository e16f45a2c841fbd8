package event

import "time"

// TemplatesRanked_v1 is the precedence table of driftwatch's templates after a change: for
// every live template, the resource_type whose CIs it may govern and its priority. The
// template command appends the whole table to one stream (TemplatePrecedenceStream) at the
// revision it decided on, together with the TemplateChanged_v1 it allows, so that two
// templates of one resource_type never hold the same priority.
type TemplatesRanked_v1 struct {
	Templates []TemplateRank `json:"templates"`
	ChangedAt time.Time      `json:"changed_at"`
}

// TemplateRank is one template's place in the precedence table.
type TemplateRank struct {
	TemplateID   string `json:"template_id"`
	ResourceType string `json:"resource_type"`
	Priority     int    `json:"priority,omitempty"`
}

// TemplatePrecedenceSubject is the subject of every TemplatesRanked_v1: its facts form one
// stream, StreamOf(TypeTemplatesRanked, TemplatePrecedenceSubject).
const TemplatePrecedenceSubject = "templates"

// FactType implements Fact.
func (TemplatesRanked_v1) FactType() string { return TypeTemplatesRanked }
