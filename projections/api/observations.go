package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// accepted is the answer to a submitted observation.
type accepted struct {
	ObservationID string `json:"observation_id"`
	Status        string `json:"status"`
}

// submitObservation is POST /observations: a drift.Observation with an optional scope, as
// event.ObservationSubmitted_v1. It answers 202 once the Emitter has made the observation
// durable on the bus, 503 when it could not.
func (a *api) submitObservation(w http.ResponseWriter, r *http.Request) error {
	var in event.ObservationSubmitted_v1
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	if err := validateSubmission(in); err != nil {
		return invalid("observation", err)
	}
	if in.ID == "" {
		in.ID = a.NewID()
	}
	rec := event.Record{
		ID:      event.DeriveID("observation-submitted", in.CIID, in.ID),
		Subject: in.CIID,
		Time:    a.Now(),
		Fact:    in,
	}
	if err := a.Emitter.Emit(r.Context(), rec); err != nil {
		return unavailable("the observation could not be recorded; retry", fmt.Errorf("emit observation %s of %s: %w", in.ID, in.CIID, err))
	}
	return writeJSON(w, http.StatusAccepted, accepted{ObservationID: in.ID, Status: "accepted"})
}

// validateSubmission checks the observation and its scope, reporting every problem.
func validateSubmission(in event.ObservationSubmitted_v1) error {
	errs := []error{in.Validate()}
	for i, s := range in.Scope {
		switch {
		case strings.TrimSpace(s) == "":
			errs = append(errs, fmt.Errorf("scope[%d]: must name a top-level field", i))
		default:
			if err := drift.ValidPointer(drift.FieldPointer(s)); err != nil {
				errs = append(errs, fmt.Errorf("scope[%d]: %w", i, err))
			}
		}
	}
	return flatten(errs...)
}

// flatten joins errors, unwrapping joined ones, so that each stays one named problem.
func flatten(errs ...error) error {
	var out []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, j.Unwrap()...)
		} else {
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}
