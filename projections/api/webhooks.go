package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// NetBoxHook takes NetBox's webhooks; *netbox.Sync implements it.
type NetBoxHook interface {
	// Verify checks the X-Hook-Signature of a raw body.
	Verify(body []byte, signature string) error
	// Webhook invalidates what the change touched and has those CIs judged again; its
	// answer says what (a JSON-encodable value). A body that is not a NetBox webhook is a
	// permanent error.
	Webhook(ctx context.Context, body []byte) (any, error)
}

// netboxWebhook is POST /webhooks/netbox. NetBox signs its webhooks (X-Hook-Signature: hex
// HMAC-SHA512 of the raw body with the shared secret) and cannot send a bearer token unless
// told to: a valid signature is the credential without a token, and is checked with one
// too when present. 202 with what the change touched and how many CIs are judged again.
func (a *api) netboxWebhook(w http.ResponseWriter, r *http.Request) error {
	anonymous := PrincipalOf(r.Context()).Role == auth.Anonymous
	sig := r.Header.Get("X-Hook-Signature")
	if anonymous && (a.NetBox == nil || sig == "") {
		return unauthorized(w, "POST /webhooks/netbox needs an operator token or a webhook signed with the NetBox webhook secret (X-Hook-Signature)")
	}
	if a.NetBox == nil {
		return conflict("NetBox is not configured: start driftwatch with --netbox-url and DRIFTWATCH_NETBOX_TOKEN")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if anonymous || sig != "" {
		if err := a.NetBox.Verify(body, sig); err != nil {
			if anonymous {
				return unauthorized(w, "X-Hook-Signature: "+err.Error())
			}
			return problem(http.StatusForbidden, "forbidden", "X-Hook-Signature: "+err.Error())
		}
	}
	res, err := a.NetBox.Webhook(r.Context(), body)
	if fault.IsPermanent(err) {
		return badRequest(err.Error(), InvalidParam{Name: "body", Reason: err.Error()})
	}
	if err != nil {
		return unavailable("the change could not be applied; NetBox does not retry, but driftwatch's change-log follower will catch it up", fmt.Errorf("netbox webhook: %w", err))
	}
	return writeJSON(w, http.StatusAccepted, res)
}
