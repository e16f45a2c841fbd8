package action_test

import (
	"context"
	"sync"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
)

// executor is a fake Executor: it keeps the requests and answers with the queued results.
type executor struct {
	mu       sync.Mutex
	requests []action.Request
	results  []result // consumed in order; when empty, success with Changed
}

type result struct {
	out action.Outcome
	err error
}

func (e *executor) Execute(_ context.Context, r action.Request) (action.Outcome, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, r)
	if len(e.results) == 0 {
		return action.Outcome{Changed: true, Target: "c-" + r.CIID}, nil
	}
	res := e.results[0]
	e.results = e.results[1:]
	return res.out, res.err
}

func (e *executor) calls() []action.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]action.Request(nil), e.requests...)
}

func openStore(t *testing.T) eventstore.Store {
	t.Helper()
	s, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// commit appends records to their streams, as the router's emitter does.
func commit(t *testing.T, store eventstore.Store, recs ...event.Record) {
	t.Helper()
	for _, r := range recs {
		ev, stream, err := r.StoreEvent()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(context.Background(), stream, eventstore.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
}
