package enrich_test

import (
	"context"
	"errors"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// fixed is a source that has desired state for the CIs it lists, or fails.
type fixed struct {
	name string
	has  map[string]bool
	err  error
}

func (f fixed) Name() string { return f.name }

func (f fixed) Desired(_ context.Context, q enrich.Query) (drift.Desired, bool, error) {
	if f.err != nil {
		return drift.Desired{}, false, f.err
	}
	if !f.has[q.CIID] {
		return drift.Desired{}, false, nil
	}
	return drift.Desired{Source: f.name}, true, nil
}

func TestPrecedenceTheFirstSourceWithDesiredStateGovernsWhole(t *testing.T) {
	t.Parallel()
	p := enrich.Precedence{
		fixed{name: "netbox", has: map[string]bool{"a": true}},
		fixed{name: "git", has: map[string]bool{"a": true, "b": true}},
		fixed{name: "template", has: map[string]bool{"a": true, "b": true, "c": true}},
	}
	if p.Name() != "netbox>git>template" {
		t.Fatalf("name %q", p.Name())
	}
	for ci, want := range map[string]string{"a": "netbox", "b": "git", "c": "template", "d": ""} {
		d, found, err := p.Desired(context.Background(), enrich.Query{CIID: ci})
		if err != nil || found != (want != "") || d.Source != want {
			t.Errorf("%s: %+v %v %v, want from %q", ci, d, found, err, want)
		}
	}
	down := enrich.Precedence{fixed{name: "netbox", err: errors.New("netbox unreachable")}, fixed{name: "template", has: map[string]bool{"a": true}}}
	if _, found, err := down.Desired(context.Background(), enrich.Query{CIID: "a"}); err == nil || found {
		t.Fatal("a CI fell through to a lower source while a higher one was unreachable")
	}
}
