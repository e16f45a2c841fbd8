package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// templateInput is the body of POST and PUT /templates. The members driftwatch computes
// (baseline_hash, version, created_at, updated_at) are accepted so that a template read with GET can
// be sent back, and ignored.
type templateInput struct {
	ID           string          `json:"template_id"`
	ResourceType string          `json:"resource_type"`
	Priority     int             `json:"priority,omitempty"`
	Definition   json.RawMessage `json:"template_definition"`
	BaselineHash json.RawMessage `json:"baseline_hash,omitempty"`
	Version      json.RawMessage `json:"version,omitempty"`
	CreatedAt    json.RawMessage `json:"created_at,omitempty"`
	UpdatedAt    json.RawMessage `json:"updated_at,omitempty"`
}

// listTemplates is GET /templates, by template id.
func (a *api) listTemplates(w http.ResponseWriter, _ *http.Request) error {
	ts := a.Catalog.Templates()
	return writeJSON(w, http.StatusOK, map[string]any{"items": ts, "total": len(ts)})
}

// getTemplate is GET /templates/{id}.
func (a *api) getTemplate(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	t, ok := a.Catalog.Template(id)
	if !ok {
		return notFound("template", id)
	}
	return writeJSON(w, http.StatusOK, t)
}

// createTemplate is POST /templates: 201 with the template and its baseline hash; 409 when
// the id exists, or when another template of its resource_type has its priority.
func (a *api) createTemplate(w http.ResponseWriter, r *http.Request) error {
	t, err := readTemplate(r, "")
	if err != nil {
		return err
	}
	t, pos, err := a.Templates.Create(r.Context(), t)
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	w.Header().Set("Location", "/templates/"+url.PathEscape(t.ID))
	return a.answerTemplate(w, http.StatusCreated, t.ID)
}

// putTemplate is PUT /templates/{id}: creates (201) or replaces (200) the template; a
// template_id in the body must match the path; 409 as for POST.
func (a *api) putTemplate(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	t, err := readTemplate(r, id)
	if err != nil {
		return err
	}
	_, created, pos, err := a.Templates.Put(r.Context(), t)
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/templates/"+url.PathEscape(id))
	}
	return a.answerTemplate(w, status, id)
}

// deleteTemplate is DELETE /templates/{id}: 204, or 404 when it does not exist.
func (a *api) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	pos, err := a.Templates.Delete(r.Context(), r.PathValue("id"))
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readTemplate decodes a template body (the command checks it). pathID, when set, is the id from the
// path: the body may leave template_id out, or must repeat it.
func readTemplate(r *http.Request, pathID string) (drift.Template, error) {
	var in templateInput
	if err := decodeBody(r, &in, true); err != nil {
		return drift.Template{}, err
	}
	if pathID != "" {
		if in.ID != "" && in.ID != pathID {
			return drift.Template{}, badRequest("template_id differs from the path",
				InvalidParam{Name: "template_id", Reason: fmt.Sprintf("%q must match the path's %q", in.ID, pathID)})
		}
		in.ID = pathID
	}
	t := drift.Template{ID: in.ID, ResourceType: in.ResourceType, Priority: in.Priority}
	def, err := definition(in.Definition)
	if err != nil {
		return drift.Template{}, badRequest("invalid template: template_definition", InvalidParam{Name: "template_definition", Reason: err.Error()})
	}
	t.Definition = def
	return t, nil
}

// definition normalises a template definition: a JSON value, or a string holding a JSON or
// YAML document, compacted to JSON. Whether it is an object is Validate's to say.
func definition(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, err
		}
		if json.Valid([]byte(text)) {
			raw = []byte(text)
		} else {
			converted, err := yamlToJSON([]byte(text), nil)
			if err != nil {
				return nil, fmt.Errorf("the string is neither a JSON nor a YAML document: %v", err)
			}
			raw = converted
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// answerTemplate answers with the template as the read model now holds it.
func (a *api) answerTemplate(w http.ResponseWriter, status int, id string) error {
	t, ok := a.Catalog.Template(id)
	if !ok {
		return unavailable(fmt.Sprintf("template %q is recorded but the catalog does not show it", id), nil)
	}
	return writeJSON(w, status, t)
}
