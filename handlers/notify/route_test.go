package notify_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// nopSender sends nothing.
type nopSender struct{}

func (nopSender) Send(context.Context, notify.Notification) error { return nil }

func testRouting() notify.Routing {
	return notify.Routing{
		Receivers: []notify.Receiver{
			{Name: "mail", Kind: notify.KindEmail, Sender: nopSender{}},
			{Name: "chat", Kind: notify.KindSlack, Sender: nopSender{}},
			{Name: "pager", Kind: notify.KindPagerDuty, Sender: nopSender{}},
			{Name: "security-hook", Kind: notify.KindWebhook, Sender: nopSender{}},
		},
		Routes: []notify.Route{
			{Receivers: []string{"mail"}},
			{Receivers: []string{"chat", "mail"}, MinSeverity: drift.SeverityMedium},
			{Receivers: []string{"pager"}, MinSeverity: drift.SeverityCritical, Events: []notify.Event{notify.EventOpened, notify.EventEscalated, notify.EventAcknowledged, notify.EventResolved}},
			{Receivers: []string{"pager"}, Events: []notify.Event{notify.EventEscalated}},
			{Receivers: []string{"security-hook"}, Categories: []drift.Category{drift.CategorySecurity}},
		},
		Addressed: func(address string) (notify.Receiver, error) {
			if strings.HasSuffix(address, "@nowhere.example") {
				return notify.Receiver{}, errors.New("no mail server")
			}
			return notify.Receiver{Name: "mailto:" + address, Kind: notify.KindEmail, Sender: nopSender{}}, nil
		},
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	n := func(sev drift.Severity, cat drift.Category, ev notify.Event, planned bool) notify.Notification {
		return notify.Notification{DriftID: "d", Event: ev, Severity: sev, Category: cat, Planned: planned}
	}
	tests := []struct {
		name        string
		n           notify.Notification
		policy      []string
		want        []string
		wantUnknown []string
	}{
		{"a_low_drift_reaches_the_routes_that_take_low", n(drift.SeverityLow, drift.CategoryState, notify.EventOpened, false), nil, []string{"mail"}, nil},
		{"a_medium_drift_reaches_each_receiver_once", n(drift.SeverityMedium, drift.CategoryState, notify.EventOpened, false), nil, []string{"mail", "chat"}, nil},
		{"a_critical_drift_pages", n(drift.SeverityCritical, drift.CategoryState, notify.EventOpened, false), nil, []string{"mail", "chat", "pager"}, nil},
		{"an_escalation_pages_whatever_its_severity", n(drift.SeverityLow, drift.CategoryState, notify.EventEscalated, false), nil, []string{"mail", "pager"}, nil},
		{"a_planned_drift_never_pages", n(drift.SeverityCritical, drift.CategoryState, notify.EventEscalated, true), nil, []string{"mail", "chat"}, nil},
		{"a_category_route_takes_its_category_only", n(drift.SeverityLow, drift.CategorySecurity, notify.EventOpened, false), nil, []string{"mail", "security-hook"}, nil},
		{"an_unknown_severity_goes_everywhere", n("bogus", drift.CategoryState, notify.EventOpened, false), nil, []string{"mail", "chat", "pager"}, nil},
		{"the_policy_names_receivers_and_addresses", n(drift.SeverityLow, drift.CategoryState, notify.EventOpened, false),
			[]string{"chat", "ops@example.com", "chat", "#not-a-receiver", "x@nowhere.example"},
			[]string{"mail", "chat", "mailto:ops@example.com"}, []string{"#not-a-receiver", "x@nowhere.example"}},
		{"the_policy_cannot_page_for_a_planned_drift", n(drift.SeverityLow, drift.CategoryState, notify.EventOpened, true), []string{"pager"}, []string{"mail"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, unknown := testRouting().Select(tt.n, tt.policy)
			var names []string
			for _, r := range got {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, tt.want) || !slices.Equal(unknown, tt.wantUnknown) {
				t.Errorf("receivers %v unknown %v, want %v and %v", names, unknown, tt.want, tt.wantUnknown)
			}
		})
	}
}

func TestRoutingValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	r := notify.Routing{
		Receivers: []notify.Receiver{
			{Name: "a", Kind: notify.KindEmail, Sender: nopSender{}},
			{Name: "a", Kind: "fax"},
		},
		Routes: []notify.Route{
			{},
			{Receivers: []string{"b"}, MinSeverity: "huge", Categories: []drift.Category{"nope"}, Events: []notify.Event{"exploded"}},
		},
	}
	err := r.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"a" is used twice`, `"fax"`, "sender: required", "routes[0]: receivers: at least one", `"b" is not a receiver`, `"huge"`, `"nope"`, `"exploded"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
}
