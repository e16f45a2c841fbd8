package enrich

import (
	"context"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Precedence is the one rule for a CI with desired state in more than one source: the
// sources are asked in order and the first that has desired state for the CI governs it
// whole (sources are never merged field by field). driftwatch orders them NetBox, then the
// templates directory (Git), then templates kept in driftwatch: the CMDB is the record of
// what should be, a reviewed repository comes next, and the API's templates fill in for CIs
// neither knows. Which source governed is on every verdict and drift (desired_source).
type Precedence []DesiredSource

// Name implements DesiredSource: the sources' names in order, "netbox>git>template".
func (p Precedence) Name() string {
	names := make([]string, len(p))
	for i, s := range p {
		names[i] = s.Name()
	}
	return strings.Join(names, ">")
}

// Desired implements DesiredSource: the first source's answer that has one. An error of a
// source stops the lookup: a CI must not fall through to a lower source because a higher
// one is unreachable.
func (p Precedence) Desired(ctx context.Context, q Query) (drift.Desired, bool, error) {
	for _, s := range p {
		d, found, err := s.Desired(ctx, q)
		if err != nil || found {
			return d, found, err
		}
	}
	return drift.Desired{}, false, nil
}
