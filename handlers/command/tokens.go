package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// MaxTokenName bounds a token's name.
const MaxTokenName = 100

// Tokens creates and revokes API tokens. Their facts live in one stream per token
// (token-<id>), appended with expected revisions, so that two calls never both win.
type Tokens struct {
	Store eventstore.Store
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Created is a new token: its secret, shown once and never stored, and where its fact is.
type Created struct {
	Secret   string
	Token    event.TokenCreated_v1
	Position eventstore.Position
}

func (t Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

// Create makes a token with a fresh random secret for role, named name, asked for by by
// (the caller's token name). The secret is returned once and never stored.
func (t Tokens) Create(ctx context.Context, name string, role auth.Role, by string) (secret string, tok event.TokenCreated_v1, pos eventstore.Position, err error) {
	c, err := t.create(ctx, name, role, by)
	return c.Secret, c.Token, c.Position, err
}

func (t Tokens) create(ctx context.Context, name string, role auth.Role, by string) (Created, error) {
	var errs []error
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		errs = append(errs, errors.New("name: required"))
	case len(name) > MaxTokenName:
		errs = append(errs, fmt.Errorf("name: %d bytes, at most %d", len(name), MaxTokenName))
	case strings.ContainsFunc(name, unicode.IsControl):
		errs = append(errs, errors.New("name: control characters are not allowed"))
	}
	if role < auth.Viewer || role > auth.Admin {
		errs = append(errs, errors.New("role: want viewer, operator or admin"))
	}
	if err := fault.Invalid("token", errors.Join(errs...)); err != nil {
		return Created{}, err
	}
	secret, err := auth.NewSecret()
	if err != nil {
		return Created{}, err
	}
	return t.register(ctx, secret, name, role, by)
}

// register records a token for secret; a secret already registered (even revoked since) is
// a conflict.
func (t Tokens) register(ctx context.Context, secret, name string, role auth.Role, by string) (Created, error) {
	hash := auth.Hash(secret)
	id := auth.IDOf(hash)
	f := event.TokenCreated_v1{TokenID: id, Name: name, Role: role, Hash: hash, CreatedBy: by, CreatedAt: t.now()}
	ev, stream, err := event.Record{ID: event.DeriveID("token-created", id), Subject: id, Time: f.CreatedAt, Fact: f}.StoreEvent()
	if err != nil {
		return Created{}, err
	}
	res, err := t.Store.Append(ctx, stream, eventstore.NoStream, ev)
	if err != nil {
		return Created{}, fmt.Errorf("record token %s: %w", id, err)
	}
	return Created{Secret: secret, Token: f, Position: res.Position}, nil
}

// Revoke ends token id at once, asked for by by. Revoking a revoked token changes nothing;
// an unknown id is fault.ErrNotFound.
func (t Tokens) Revoke(ctx context.Context, id, by, reason string) (eventstore.Position, error) {
	return t.revoke(ctx, revocation{ID: id, By: by, Reason: reason})
}

type revocation struct{ ID, By, Reason string }

func (t Tokens) revoke(ctx context.Context, c revocation) (eventstore.Position, error) {
	if len(c.ID) != 16 || strings.Trim(c.ID, "0123456789abcdef") != "" {
		return 0, fault.Invalid("token revocation", fmt.Errorf("id: %q is not a token id (16 hex digits)", c.ID))
	}
	stream := event.TokenStreamPrefix + c.ID
	last, found, err := t.Store.ReadLast(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("read token %s: %w", c.ID, err)
	}
	if !found {
		return 0, fmt.Errorf("token %s: %w", c.ID, fault.ErrNotFound)
	}
	if last.Type == event.TypeTokenRevoked {
		return last.Position, nil
	}
	f := event.TokenRevoked_v1{TokenID: c.ID, RevokedBy: c.By, Reason: c.Reason, RevokedAt: t.now()}
	ev, _, err := event.Record{ID: event.DeriveID("token-revoked", c.ID), Subject: c.ID, Time: f.RevokedAt, Fact: f}.StoreEvent()
	if err != nil {
		return 0, err
	}
	res, err := t.Store.Append(ctx, stream, eventstore.Exact(last.Revision), ev)
	if errors.Is(err, eventstore.ErrWrongRevision) {
		return t.revoke(ctx, c) // revoked by someone else meanwhile: then it is done
	}
	if err != nil {
		return 0, fmt.Errorf("revoke token %s: %w", c.ID, err)
	}
	return res.Position, nil
}

// AdminTokenFile is the file in the data directory that receives the first admin token.
const AdminTokenFile = "admin-token"

// Bootstrap makes sure an admin can get in. Given envSecret (DRIFTWATCH_ADMIN_TOKEN), that
// secret is registered as an admin token unless it already was (a revoked one stays revoked).
// Without it, the first start of a store creates an admin token once and writes its secret to
// dataDir/admin-token (mode 0600), returning that path; later starts do nothing.
func (t Tokens) Bootstrap(ctx context.Context, envSecret, dataDir string) (file string, err error) {
	if envSecret != "" {
		if err := auth.CheckSecret(envSecret); err != nil {
			return "", fmt.Errorf("DRIFTWATCH_ADMIN_TOKEN: %w", err)
		}
		_, err := t.register(ctx, envSecret, "bootstrap-admin", auth.Admin, "DRIFTWATCH_ADMIN_TOKEN")
		if err != nil && !errors.Is(err, eventstore.ErrWrongRevision) {
			return "", err
		}
		return "", t.markBootstrapped(ctx, auth.IDOf(auth.Hash(envSecret)), "")
	}
	if _, found, err := t.Store.ReadLast(ctx, event.TokensBootstrapStream); err != nil || found {
		return "", err
	}
	if dataDir == "" {
		return "", errors.New("no admin token: set DRIFTWATCH_ADMIN_TOKEN, or give a data directory for the first one")
	}
	secret, err := auth.NewSecret()
	if err != nil {
		return "", err
	}
	file = filepath.Join(dataDir, AdminTokenFile)
	// The file first: a crash after it leaves a token that does not work yet, and the next
	// start writes a new one; the other way round would leave a token nobody can read.
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	if err := os.WriteFile(file+".tmp", []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the admin token: %w", err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		return "", fmt.Errorf("write the admin token: %w", err)
	}
	created, err := t.register(ctx, secret, "bootstrap-admin", auth.Admin, "first start")
	if err != nil {
		return "", err
	}
	return file, t.markBootstrapped(ctx, created.Token.TokenID, file)
}

func (t Tokens) markBootstrapped(ctx context.Context, id, file string) error {
	f := event.TokensBootstrapped_v1{TokenID: id, File: file, CreatedAt: t.now()}
	ev, _, err := event.Record{ID: event.DeriveID("tokens-bootstrapped"), Time: f.CreatedAt, Fact: f}.StoreEvent()
	if err != nil {
		return err
	}
	_, err = t.Store.Append(ctx, event.TokensBootstrapStream, eventstore.Any, ev)
	return err
}
