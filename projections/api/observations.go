package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/auth"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Admission is the door's decision on one submitted observation (see ingest.Outcome).
type Admission struct {
	// Status is accepted, unchanged, duplicate, superseded or rejected.
	Status        string
	ObservationID string
	// Rejection is set when the observation's credentials do not allow it.
	Rejection *event.ObservationRejected_v1
	// Records are the facts to emit.
	Records []event.Record
	// Outcome is the door's own account, handed back with Published.
	Outcome any
}

// Door admits observations: the ingest stage, run at the door so that everything it would
// refuse is refused before the answer. Bad input is an error wrapping a fault.InvalidError.
// Published is told once an admission's records were emitted.
type Door interface {
	Submit(ctx context.Context, in event.Message[event.ObservationSubmitted_v1]) (Admission, error)
	Published(Admission)
}

// accepted is the answer to a submitted observation.
type accepted struct {
	ObservationID string `json:"observation_id"`
	Status        string `json:"status"`
}

// submitObservation is POST /observations: a drift.Observation with an optional scope, as
// event.ObservationSubmitted_v1. Ingest decides it here: bad input is a 400 naming each
// field, an observation whose credentials do not allow it a 401 (unsigned where signatures
// are required) or 403 (forged, unknown agent, foreign CI), recorded as rejected; otherwise
// 202 once its facts are durable, with its status: accepted (the CI's state changed),
// unchanged, duplicate or superseded.
func (a *api) submitObservation(w http.ResponseWriter, r *http.Request) error {
	in, err := decodeObservation(r)
	if err != nil {
		return err
	}
	if PrincipalOf(r.Context()).Role == auth.Anonymous && (in.AgentID == "" || in.Signature == "") {
		// Without a token only an enrolled agent's signature lets an observation in; it is
		// refused before anything is recorded.
		return unauthorized(w, "POST /observations needs an operator token (Authorization: Bearer <token>) or an observation signed by an enrolled agent")
	}
	return a.admit(w, r, in)
}

// admit has the door decide a submitted observation and answers for it: 400 naming each bad
// field, 401 or 403 for credentials that do not allow it (recorded as rejected), 202 once
// its facts are durable.
func (a *api) admit(w http.ResponseWriter, r *http.Request, in event.ObservationSubmitted_v1) error {
	msg := event.Message[event.ObservationSubmitted_v1]{
		ID:      event.DeriveID("observation-submitted", in.CIID, in.ID, a.NewID()),
		Subject: in.CIID,
		Time:    a.Now(),
		Fact:    in,
	}
	adm, err := a.Door.Submit(r.Context(), msg)
	if inv, ok := fault.AsInvalid(err); ok {
		return invalid("observation", inv.Err)
	}
	if err != nil {
		return unavailable("the observation could not be recorded; retry", fmt.Errorf("submit observation of %s: %w", in.CIID, err))
	}
	if err := a.Emitter.Emit(r.Context(), adm.Records...); err != nil {
		return unavailable("the observation could not be recorded; retry", fmt.Errorf("emit observation of %s: %w", in.CIID, err))
	}
	a.Door.Published(adm)
	if rej := adm.Rejection; rej != nil {
		status := http.StatusForbidden
		if rej.Reason == event.RejectUnsigned {
			status = http.StatusUnauthorized
		}
		return problem(status, "observation-rejected", fmt.Sprintf("%s: %s", rej.Reason, rej.Detail))
	}
	return writeJSON(w, http.StatusAccepted, accepted{ObservationID: adm.ObservationID, Status: adm.Status})
}

// decodeObservation reads the body in one strict pass (event.StrictDecoder): the state is
// kept as sent, unread until ingest canonicalises it (or recognises its bytes).
func decodeObservation(r *http.Request) (event.ObservationSubmitted_v1, error) {
	var in event.ObservationSubmitted_v1
	mt, err := mediaType(r)
	if err != nil {
		return in, err
	}
	if mt != mediaJSON {
		return in, unsupported(mt, mediaJSON)
	}
	data, err := readBody(r)
	if err != nil {
		return in, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return in, badRequest("a request body is required")
	}
	err = in.DecodeStrict(data, false)
	// The body's own structure fails as one StrictError; its members as joined field errors.
	se, structural := err.(*drift.StrictError)
	switch {
	case err == nil:
		return in, nil
	case structural && se.Path != "":
		return in, badRequest("the body is not acceptable JSON: "+err.Error(), InvalidParam{Name: strings.TrimPrefix(se.Path, "/"), Reason: se.Reason})
	case structural:
		return in, badRequest("the body is not valid JSON: " + err.Error())
	}
	return in, invalid("observation", err)
}

// FactsReader turns a facts document (what Ansible's setup, package_facts and service_facts
// produce, as deploy/ansible/collect-facts.yml posts it) into one observation of the host;
// an adapter over handlers/source/ansible implements it. A document it cannot use is an
// error marked fault.Permanent that names the field.
type FactsReader interface {
	Observe(doc []byte) (event.ObservationSubmitted_v1, error)
}

// submitFacts is POST /facts: one host's Ansible facts, observed as the host's packages,
// services, firmware and compliance (only the members the facts carry change), then admitted
// as POST /observations admits an observation.
func (a *api) submitFacts(w http.ResponseWriter, r *http.Request) error {
	if a.Facts == nil {
		return conflict("Ansible facts are not taken by this server")
	}
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if mt != mediaJSON {
		return unsupported(mt, mediaJSON)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	in, err := a.Facts.Observe(data)
	if fault.IsPermanent(err) {
		return badRequest("the facts cannot be used: "+err.Error(), factsParam(err))
	}
	if err != nil {
		return fmt.Errorf("observe facts: %w", err)
	}
	return a.admit(w, r, in)
}

// factsParam names the field a facts error is about: the text before its first colon after
// the parser's prefix ("parse ansible facts: ansible_facts.packages: ...").
func factsParam(err error) InvalidParam {
	msg := err.Error()
	for _, prefix := range []string{"parse ansible facts: ", "observe ansible facts: "} {
		if i := strings.Index(msg, prefix); i >= 0 {
			msg = msg[i+len(prefix):]
		}
	}
	name, reason, found := strings.Cut(msg, ": ")
	if !found {
		return InvalidParam{Name: "body", Reason: msg}
	}
	return InvalidParam{Name: name, Reason: reason}
}
