package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/projections/tokens"
)

// Authenticator tells who a bearer token belongs to; tokens.Verifier implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// TokenCommands creates and revokes tokens; *command.Tokens implements it.
type TokenCommands interface {
	Create(ctx context.Context, name string, role auth.Role, by string) (secret string, tok event.TokenCreated_v1, pos eventstore.Position, err error)
	Revoke(ctx context.Context, id, by, reason string) (eventstore.Position, error)
}

// TokenLister lists tokens; *tokens.Model implements it.
type TokenLister interface {
	List(withRevoked bool) ([]tokens.Token, error)
}

// createdToken is the answer to POST /tokens: the only time the secret is shown.
type createdToken struct {
	tokens.Token
	Secret string `json:"secret"`
}

// createToken is POST /tokens (admin): 201 with the secret, shown once.
func (a *api) createToken(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		return invalid("token", fmt.Errorf("role: %w", err))
	}
	secret, tok, pos, err := a.TokenCommands.Create(r.Context(), in.Name, role, by(r))
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdToken{
		Token:  tokens.Token{ID: tok.TokenID, Name: tok.Name, Role: tok.Role, CreatedBy: tok.CreatedBy, CreatedAt: tok.CreatedAt},
		Secret: secret,
	})
}

// listTokens is GET /tokens (admin); ?revoked=true lists revoked ones too.
func (a *api) listTokens(w http.ResponseWriter, r *http.Request) error {
	withRevoked := r.URL.Query().Get("revoked") == "true"
	list, err := a.TokenList.List(withRevoked)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": list, "total": len(list)})
}

// revokeToken is DELETE /tokens/{id} (admin): the token stops working at once.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	pos, err := a.TokenCommands.Revoke(r.Context(), r.PathValue("id"), by(r), r.URL.Query().Get("reason"))
	if err != nil {
		return commandError(err)
	}
	if err := a.waitFor(r.Context(), pos); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// commandError turns a command's refusal into its problem: bad input 400 naming the fields,
// unknown 404, conflict 409; anything else stays a server error.
func commandError(err error) error {
	if inv, ok := fault.AsInvalid(err); ok {
		return invalid(inv.What, inv.Err)
	}
	switch {
	case errors.Is(err, fault.ErrNotFound):
		return problem(http.StatusNotFound, "not-found", err.Error())
	case errors.Is(err, fault.ErrConflict):
		return problem(http.StatusConflict, "conflict", err.Error())
	}
	return err
}
