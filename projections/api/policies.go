package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// listPolicies is GET /drift/policies, by policy id.
func (a *api) listPolicies(w http.ResponseWriter, _ *http.Request) error {
	ps := a.Catalog.Policies()
	return writeJSON(w, http.StatusOK, map[string]any{"items": ps, "total": len(ps)})
}

// getPolicy is GET /drift/policies/{id}.
func (a *api) getPolicy(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p, ok := a.Catalog.Policy(id)
	if !ok {
		return notFound("policy", id)
	}
	return writeJSON(w, http.StatusOK, p)
}

// createPolicy is POST /drift/policies: a policy as JSON or YAML, decoded strictly, with
// defaults filled in; 201 with the stored policy, 409 when the id exists.
func (a *api) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var p drift.Policy
	if err := decodeBody(r, &p, true); err != nil {
		return err
	}
	p, pos, err := a.Policies.Create(r.Context(), p)
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	w.Header().Set("Location", "/drift/policies/"+url.PathEscape(p.ID))
	return a.answerPolicy(w, http.StatusCreated, p.ID)
}

// patchPolicy is PATCH /drift/policies/{id}: an RFC 7396 merge patch
// (application/merge-patch+json) or an RFC 6902 JSON patch (application/json-patch+json)
// applied to the policy's JSON, decoded strictly and validated again; 409 when another
// change came first.
func (a *api) patchPolicy(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	apply := map[string]func(doc, patch []byte) ([]byte, error){mediaMergePatch: ApplyMergePatch, mediaJSONPatch: ApplyJSONPatch}[mt]
	if apply == nil {
		return unsupported(mt, mediaMergePatch, mediaJSONPatch)
	}
	patch, err := readBody(r)
	if err != nil {
		return err
	}
	_, pos, err := a.Policies.Patch(r.Context(), id, func(cur drift.Policy) (drift.Policy, error) {
		return patched(cur, patch, apply)
	})
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	return a.answerPolicy(w, http.StatusOK, id)
}

// patched applies a patch to a policy's JSON and decodes the result strictly.
func patched(cur drift.Policy, patch []byte, apply func(doc, patch []byte) ([]byte, error)) (drift.Policy, error) {
	doc, err := json.Marshal(cur)
	if err != nil {
		return drift.Policy{}, fmt.Errorf("encode policy %s: %w", cur.ID, err)
	}
	out, err := apply(doc, patch)
	if err != nil {
		return drift.Policy{}, badRequest(err.Error(), InvalidParam{Name: "body", Reason: err.Error()})
	}
	var p drift.Policy
	if err := decodeJSON(out, &p); err != nil {
		return drift.Policy{}, err
	}
	return p, nil
}

// answerPolicy answers with the policy as the read model now holds it.
func (a *api) answerPolicy(w http.ResponseWriter, status int, id string) error {
	p, ok := a.Catalog.Policy(id)
	if !ok {
		return unavailable(fmt.Sprintf("policy %q is recorded but the catalog does not show it", id), nil)
	}
	return writeJSON(w, status, p)
}
