package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/auth"
)

func TestATokenIsShownOnceWorksAtOnceAndStopsWhenRevoked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var created struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Role   string `json:"role"`
		Secret string `json:"secret"`
	}
	f.do(http.MethodPost, "/tokens", "application/json", map[string]string{"name": "ci-pipeline", "role": "viewer"}).want(t, http.StatusCreated, &created)
	if created.Role != "viewer" || !strings.HasPrefix(created.Secret, "dwt_") || len(created.ID) != 16 {
		t.Fatalf("created %+v", created)
	}
	f.doAs(created.Secret, http.MethodGet, "/drift/report", "", nil).want(t, http.StatusOK, nil)
	f.doAs(created.Secret, http.MethodPost, "/drift/reconcile", "application/json", "{}").problem(t, http.StatusForbidden)

	var list struct {
		Items []map[string]any `json:"items"`
	}
	r := f.do(http.MethodGet, "/tokens", "", nil)
	r.want(t, http.StatusOK, &list)
	if strings.Contains(string(r.body), created.Secret) || strings.Contains(string(r.body), "hash") {
		t.Fatalf("the list shows a secret or a hash: %s", r.body)
	}
	found := false
	for _, it := range list.Items {
		found = found || it["id"] == created.ID && it["name"] == "ci-pipeline"
	}
	if !found {
		t.Fatalf("the new token is not listed: %s", r.body)
	}

	f.do(http.MethodDelete, "/tokens/"+created.ID, "", nil).want(t, http.StatusNoContent, nil)
	f.doAs(created.Secret, http.MethodGet, "/drift/report", "", nil).problem(t, http.StatusUnauthorized)
	f.do(http.MethodDelete, "/tokens/"+created.ID, "", nil).want(t, http.StatusNoContent, nil) // again: done already
	f.do(http.MethodDelete, "/tokens/00000000000000aa", "", nil).problem(t, http.StatusNotFound)
	f.do(http.MethodDelete, "/tokens/not-an-id", "", nil).problem(t, http.StatusBadRequest, "id")
	f.do(http.MethodPost, "/tokens", "application/json", map[string]string{"name": "", "role": "root"}).problem(t, http.StatusBadRequest, "role")
	f.do(http.MethodPost, "/tokens", "application/json", map[string]string{"name": "", "role": "admin"}).problem(t, http.StatusBadRequest, "name")
	// An operator cannot mint tokens.
	f.doAs(f.secrets[auth.Operator], http.MethodPost, "/tokens", "application/json", map[string]string{"name": "x", "role": "admin"}).problem(t, http.StatusForbidden)
}
