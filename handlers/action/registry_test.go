package action_test

import (
	"context"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// kindEcho is an executor that says which kind it performed.
type kindEcho string

func (e kindEcho) Execute(_ context.Context, r action.Request) (action.Outcome, error) {
	return action.Outcome{Detail: string(e) + " did " + string(r.Kind)}, nil
}

func TestRegistryHandsEachKindToItsExecutor(t *testing.T) {
	t.Parallel()
	var r action.Registry
	r.Missing = "start driftwatch with --docker-host"
	if err := r.Register(kindEcho("docker"), drift.ActionKindQuarantine, drift.ActionKindRelease); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(kindEcho("other"), drift.ActionKindStart); err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[drift.ActionKind]string{drift.ActionKindQuarantine: "docker did quarantine", drift.ActionKindStart: "other did start"} {
		out, err := r.Execute(context.Background(), action.Request{Kind: kind, CIID: "c"})
		if err != nil || out.Detail != want {
			t.Errorf("%s: %+v, %v; want %q", kind, out, err, want)
		}
	}
	_, err := r.Execute(context.Background(), action.Request{Kind: drift.ActionKindStop, CIID: "web-01"})
	if !fault.IsPermanent(err) || !strings.Contains(err.Error(), "no executor can stop web-01 (registered: quarantine, release, start); start driftwatch with --docker-host") {
		t.Fatalf("unregistered kind: %v", err)
	}
	if err := r.Register(kindEcho("again"), drift.ActionKindStart); err == nil {
		t.Fatal("a kind registered twice was accepted")
	}
	var empty action.Registry
	if _, err := empty.Execute(context.Background(), action.Request{Kind: drift.ActionKindStop, CIID: "x"}); err == nil || !strings.Contains(err.Error(), "none is registered") {
		t.Fatalf("empty registry: %v", err)
	}
}
