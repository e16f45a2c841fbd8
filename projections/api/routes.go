package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Route is one entry of the API's route table. Every route has a role; the authorisation
// test walks this table with every role and without a token, so a route exists only here.
type Route struct {
	Method string
	Path   string
	// Role is the least role a caller's token must have. Anonymous: no token needed.
	Role auth.Role
	// Signed lets a signed request in without a token, its signature the credential, checked
	// by the handler: an observation signed by an enrolled agent (POST /observations), a
	// webhook signed with NetBox's shared secret (POST /webhooks/netbox).
	Signed bool
	// Enrol lets the enrolment token in, in place of an admin token (POST /agents).
	Enrol bool
	// Static marks the dashboard's page, script and style sheet: anonymous, since the browser
	// loads them before anyone signs in, and they hold no data.
	Static bool
	// Summary says what the route does, for the docs and the OpenAPI document.
	Summary string

	handle handlerFunc
}

// Pattern is the route's net/http pattern.
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// table is every route of the API.
func (a *api) table() []Route {
	rs := []Route{
		{Method: "GET", Path: "/healthz", Role: auth.Anonymous, Summary: "liveness and how far the read models are", handle: a.healthz},

		{Method: "POST", Path: "/observations", Role: auth.Operator, Signed: true, Summary: "submit an observation", handle: a.submitObservation},
		{Method: "POST", Path: "/facts", Role: auth.Operator, Summary: "submit one host's Ansible facts", handle: a.submitFacts},
		{Method: "GET", Path: "/drift/events", Role: auth.Viewer, Summary: "list drifts", handle: a.listDrifts},
		{Method: "GET", Path: "/drift/events/{id}", Role: auth.Viewer, Summary: "one drift", handle: a.getDrift},
		{Method: "GET", Path: "/drift/events/stream", Role: auth.Viewer, Summary: "follow drift lifecycle events (server-sent events)", handle: a.streamDrifts},
		{Method: "POST", Path: "/drift/events/{id}/acknowledge", Role: auth.Operator, Summary: "acknowledge a drift", handle: a.acknowledge},
		{Method: "POST", Path: "/drift/events/{id}/quarantine", Role: auth.Operator, Summary: "quarantine the drift's CI", handle: a.requestAction(drift.ActionKindQuarantine)},
		{Method: "POST", Path: "/drift/events/{id}/release", Role: auth.Operator, Summary: "release the drift's CI from quarantine", handle: a.requestAction(drift.ActionKindRelease)},
		{Method: "POST", Path: "/drift/events/{id}/remediate", Role: auth.Operator, Summary: "run the drift's policy remediation now", handle: a.remediate},
		{Method: "GET", Path: "/drift/cis", Role: auth.Viewer, Summary: "list CIs", handle: a.listCIs},
		{Method: "GET", Path: "/drift/cis/{id}", Role: auth.Viewer, Summary: "one CI with its last observed state", handle: a.getCI},
		{Method: "GET", Path: "/drift/cis/{id}/history", Role: auth.Viewer, Summary: "every fact about one CI, in the order recorded", handle: a.ciHistory},
		{Method: "GET", Path: "/drift/policies", Role: auth.Viewer, Summary: "list policies", handle: a.listPolicies},
		{Method: "GET", Path: "/drift/policies/{id}", Role: auth.Viewer, Summary: "one policy", handle: a.getPolicy},
		{Method: "POST", Path: "/drift/policies", Role: auth.Admin, Summary: "create a policy", handle: a.createPolicy},
		{Method: "PATCH", Path: "/drift/policies/{id}", Role: auth.Admin, Summary: "change a policy (JSON merge patch)", handle: a.patchPolicy},
		{Method: "POST", Path: "/drift/reconcile", Role: auth.Operator, Summary: "re-check every CI against its desired state", handle: a.reconcile},
		{Method: "GET", Path: "/drift/report", Role: auth.Viewer, Summary: "drift counts and coverage", handle: a.report},
		{Method: "GET", Path: "/drift/report/timeline", Role: auth.Viewer, Summary: "drifts opened and resolved per hour or day", handle: a.timeline},
		{Method: "GET", Path: "/drift/report/causes", Role: auth.Viewer, Summary: "unresolved drifts grouped by cause across CIs", handle: a.causes},
		{Method: "POST", Path: "/templates", Role: auth.Admin, Summary: "create a template", handle: a.createTemplate},
		{Method: "GET", Path: "/templates", Role: auth.Viewer, Summary: "list templates", handle: a.listTemplates},
		{Method: "GET", Path: "/templates/{id}", Role: auth.Viewer, Summary: "one template", handle: a.getTemplate},
		{Method: "PUT", Path: "/templates/{id}", Role: auth.Admin, Summary: "create or replace a template", handle: a.putTemplate},
		{Method: "DELETE", Path: "/templates/{id}", Role: auth.Admin, Summary: "delete a template", handle: a.deleteTemplate},

		{Method: "GET", Path: "/ui/", Role: auth.Anonymous, Static: true, Summary: "the dashboard", handle: a.asset("index.html")},
		{Method: "GET", Path: "/ui/app.js", Role: auth.Anonymous, Static: true, Summary: "the dashboard's script", handle: a.asset("app.js")},
		{Method: "GET", Path: "/ui/app.css", Role: auth.Anonymous, Static: true, Summary: "the dashboard's style sheet", handle: a.asset("app.css")},
		{Method: "GET", Path: "/whoami", Role: auth.Viewer, Summary: "the caller's token name and role", handle: a.whoami},
		{Method: "GET", Path: "/metrics", Role: auth.Viewer, Summary: "Prometheus metrics", handle: a.metrics},
		{Method: "GET", Path: "/openapi.json", Role: auth.Viewer, Summary: "this API's OpenAPI 3.1 document", handle: a.openAPI},

		{Method: "POST", Path: "/tokens", Role: auth.Admin, Summary: "create an API token", handle: a.createToken},
		{Method: "GET", Path: "/tokens", Role: auth.Admin, Summary: "list API tokens", handle: a.listTokens},
		{Method: "DELETE", Path: "/tokens/{id}", Role: auth.Admin, Summary: "revoke an API token", handle: a.revokeToken},

		{Method: "POST", Path: "/webhooks/netbox", Role: auth.Operator, Signed: true, Summary: "NetBox's webhook: re-evaluate the CIs a NetBox change touched", handle: a.netboxWebhook},

		{Method: "POST", Path: "/agents", Role: auth.Admin, Enrol: true, Summary: "enrol a node agent", handle: a.enrolAgent},
		{Method: "GET", Path: "/agents", Role: auth.Viewer, Summary: "list enrolled agents", handle: a.listAgents},
		{Method: "GET", Path: "/agents/{id}", Role: auth.Viewer, Summary: "one enrolled agent", handle: a.getAgent},
		{Method: "GET", Path: "/observations/rejected", Role: auth.Viewer, Summary: "observations rejected for their credentials", handle: a.listRejections},
	}
	return rs
}

// Routes returns the route table (without its handlers): for the authorisation and OpenAPI
// tests and for the docs.
func Routes() []Route {
	rs := (&api{}).table()
	for i := range rs {
		rs[i].handle = nil
	}
	return rs
}

// principalKey carries the caller's Principal in a request's context.
type principalKey struct{}

// PrincipalOf returns who the request acts as (Anonymous when it has no token).
func PrincipalOf(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

// by names the caller on the facts it causes.
func by(r *http.Request) string {
	p := PrincipalOf(r.Context())
	if p.TokenID == "" {
		return "anonymous"
	}
	return p.Name + " (token " + p.TokenID + ")"
}

// guard authenticates the caller and refuses it unless its role allows rt: 401 without a
// (valid) token, 403 with one whose role is too low.
func (a *api) guard(rt Route) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		secret, hasToken, err := bearer(r)
		if err != nil {
			return unauthorized(w, err.Error())
		}
		var p auth.Principal
		switch {
		case hasToken && rt.Enrol && a.cfg.EnrolToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(a.cfg.EnrolToken)) == 1:
			p = auth.Principal{Name: "enrolment token", Role: auth.Admin}
		case hasToken:
			p, err = a.Tokens.Authenticate(r.Context(), secret)
			if errors.Is(err, auth.ErrUnknownToken) {
				return unauthorized(w, "the bearer token is unknown or revoked")
			}
			if err != nil {
				return err
			}
		}
		switch {
		case rt.Role == auth.Anonymous, p.Role.Allows(rt.Role):
		case !hasToken && rt.Signed:
			// An agent's signature may stand in: the handler requires one (signedOnly).
		case !hasToken:
			return unauthorized(w, fmt.Sprintf("%s needs a token with role %s or higher (Authorization: Bearer <token>)", rt.Pattern(), rt.Role))
		default:
			return problem(http.StatusForbidden, "forbidden", fmt.Sprintf("%s needs role %s; the token %q has role %s", rt.Pattern(), rt.Role, p.Name, p.Role))
		}
		return rt.handle(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// bearer reads the Authorization header: no header is no token; anything but a well-formed
// bearer token is an error.
func bearer(r *http.Request) (secret string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, secret, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return "", false, errors.New("the Authorization header must be Bearer <token>")
	}
	return strings.TrimSpace(secret), true, nil
}

func unauthorized(w http.ResponseWriter, detail string) error {
	w.Header().Set("WWW-Authenticate", `Bearer realm="driftwatch"`)
	return problem(http.StatusUnauthorized, "unauthorized", detail)
}
