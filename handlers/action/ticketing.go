package action

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// TicketKinds are the action kinds a Ticketing executor serves.
var TicketKinds = []drift.ActionKind{
	drift.ActionKindChangeRequest, drift.ActionKindIncident, drift.ActionKindTicketUpdate, drift.ActionKindTicketClose,
}

// Ticketing is the Executor of the ticket kinds over an ITSM system: change_request and
// incident open the drift's ticket of that kind, found again by its correlation id (the
// drift id for a change request, IncidentCorrelation for an incident), so that a create
// retried after a timeout never opens a second; ticket_update adds Request.Note to
// Request.Ticket; ticket_close closes it with Request.CloseCode and Request.Note. Every
// operation is idempotent (see Tickets). Safe for concurrent use if Tickets is.
type Ticketing struct {
	Tickets Tickets
}

// IncidentCorrelation is the correlation id of a drift's incident.
func IncidentCorrelation(driftID string) string { return driftID + ":incident" }

// Execute implements Executor.
func (t Ticketing) Execute(ctx context.Context, r Request) (Outcome, error) {
	if t.Tickets == nil {
		return Outcome{}, fault.Permanent(errors.New("no ITSM system is configured"))
	}
	switch r.Kind {
	case drift.ActionKindChangeRequest, drift.ActionKindIncident:
		if r.DriftID == "" {
			return Outcome{}, fault.Permanent(fmt.Errorf("a %s needs the drift it is for", r.Kind))
		}
		req := ticketRequest(r)
		tk, err := t.Tickets.Open(ctx, req)
		if err != nil {
			return Outcome{}, fmt.Errorf("open %s for drift %s: %w", r.Kind, r.DriftID, err)
		}
		detail := "opened " + tk.Number
		if !tk.Created {
			detail = "found " + tk.Number + " opened before"
		}
		return Outcome{Changed: tk.Created, Target: tk.Number, Detail: detail, Ticket: &tk}, nil
	case drift.ActionKindTicketUpdate, drift.ActionKindTicketClose:
		if r.Ticket == nil || r.Ticket.ID == "" {
			return Outcome{}, fault.Permanent(fmt.Errorf("a %s needs the ticket to act on", r.Kind))
		}
		tk := *r.Ticket
		if r.Kind == drift.ActionKindTicketUpdate {
			if err := t.Tickets.Update(ctx, tk, TicketUpdate{Note: r.Note, Severity: r.Severity, At: r.At}); err != nil {
				return Outcome{}, fmt.Errorf("update %s: %w", tk.Number, err)
			}
			return Outcome{Changed: true, Target: tk.Number, Detail: "noted on " + tk.Number, Ticket: &tk}, nil
		}
		if err := t.Tickets.Close(ctx, tk, TicketClose{Code: r.CloseCode, Notes: r.Note, At: r.At}); err != nil {
			return Outcome{}, fmt.Errorf("close %s: %w", tk.Number, err)
		}
		return Outcome{Changed: true, Target: tk.Number, Detail: "closed " + tk.Number, Ticket: &tk}, nil
	}
	return Outcome{}, fault.Permanent(fmt.Errorf("the ticket executor cannot %q", r.Kind))
}

// ticketRequest describes the drift of r for its ticket; values are the drift's, as data.
func ticketRequest(r Request) TicketRequest {
	kind, corr := TicketChangeRequest, r.DriftID
	what := "Drift"
	if r.Kind == drift.ActionKindIncident {
		kind, corr, what = TicketIncident, IncidentCorrelation(r.DriftID), "Unremediated drift"
	}
	field := r.Field
	if field == "" {
		field = "(whole CI)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "driftwatch found configuration item %s drifted from its desired state.\n", r.CIID)
	fmt.Fprintf(&b, "Field: %s\nDesired: %s\nActual: %s\n", field, r.Desired, r.Actual)
	if r.Detail != "" {
		fmt.Fprintf(&b, "Detail: %s\n", r.Detail)
	}
	fmt.Fprintf(&b, "Policy: %s\nSeverity: %s\nCategory: %s\nDrift: %s\n", r.PolicyID, r.Severity, r.Category, r.DriftID)
	if r.Note != "" {
		fmt.Fprintf(&b, "\n%s\n", r.Note)
	}
	return TicketRequest{
		CorrelationID: corr, Kind: kind, DriftID: r.DriftID, CIID: r.CIID, CIType: r.CIType, Field: r.Field,
		Category: r.Category, Severity: r.Severity, PolicyID: r.PolicyID, Desired: r.Desired, Actual: r.Actual,
		ShortDescription: fmt.Sprintf("%s on %s: %s", what, r.CIID, field),
		Description:      b.String(), Related: r.Related, At: r.At,
	}
}
