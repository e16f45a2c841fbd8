package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// agentSettings is what the environment says about agent credentials.
type agentSettings struct {
	// RequireSigned makes ingest reject observations that no enrolled agent signed; default
	// off, so that unsigned sources (curl, scripts) keep working ($DRIFTWATCH_REQUIRE_SIGNED).
	RequireSigned bool
	// EnrolToken is the operator's token for POST /agents ($DRIFTWATCH_ENROL_TOKEN, or the
	// first line of the file $DRIFTWATCH_ENROL_TOKEN_FILE names); default empty: enrolment is
	// refused.
	EnrolToken string
}

// agentSettingsFromEnv reads agentSettings, reporting every problem at once.
func agentSettingsFromEnv() (agentSettings, error) {
	var s agentSettings
	var errs []error
	if v := os.Getenv("DRIFTWATCH_REQUIRE_SIGNED"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DRIFTWATCH_REQUIRE_SIGNED: %q is not a boolean", v))
		}
		s.RequireSigned = on
	}
	s.EnrolToken = os.Getenv("DRIFTWATCH_ENROL_TOKEN")
	if path := os.Getenv("DRIFTWATCH_ENROL_TOKEN_FILE"); path != "" {
		switch raw, err := os.ReadFile(path); {
		case s.EnrolToken != "":
			errs = append(errs, errors.New("DRIFTWATCH_ENROL_TOKEN_FILE: set only one of it and DRIFTWATCH_ENROL_TOKEN"))
		case err != nil:
			errs = append(errs, fmt.Errorf("DRIFTWATCH_ENROL_TOKEN_FILE: %w", err))
		default:
			s.EnrolToken, _, _ = strings.Cut(strings.TrimSpace(string(raw)), "\n")
		}
	}
	if s.EnrolToken != "" && len(s.EnrolToken) < 16 {
		errs = append(errs, errors.New("enrolment token: must be at least 16 characters"))
	}
	return s, errors.Join(errs...)
}
