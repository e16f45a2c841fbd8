package memstore_test

import (
	"testing"

	"github.com/driftwatch/driftwatch/internal/testsupport/storetest"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/projections/internal/memstore"
)

// The fake passes the event store contract, so that the projections' tests run against the
// behaviour the real adapters have.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) eventstore.Store { return memstore.New() })
}
