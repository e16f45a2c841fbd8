package drift

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// FieldRule gives the drifts of some fields their own severity and category (see
// Policy.Rules).
type FieldRule struct {
	// Field is a JSON pointer pattern ("*" matches any one token); required.
	Field string `json:"field"`
	// Severity and Category, when set, replace the policy's; at least one is required.
	Severity Severity `json:"severity,omitempty"`
	Category Category `json:"category,omitempty"`
}

func (r FieldRule) validate(at string) []error {
	var errs []error
	if err := requiredPointer(r.Field); err != nil {
		errs = append(errs, fmt.Errorf("%s.field: %w", at, err))
	}
	if r.Severity == "" && r.Category == "" {
		errs = append(errs, fmt.Errorf("%s: a rule sets severity, category or both", at))
	}
	if r.Severity != "" && !r.Severity.Valid() {
		errs = append(errs, fmt.Errorf("%s.severity: %q is not one of low, medium, high, critical", at, r.Severity))
	}
	if r.Category != "" && !r.Category.Valid() {
		errs = append(errs, fmt.Errorf("%s.category: %q is not a SPEC-080 category", at, r.Category))
	}
	return errs
}

// Exception approves one value of some fields until it expires (see Policy.Exceptions).
type Exception struct {
	// Field is a JSON pointer pattern ("*" matches any one token) at or below a drift's
	// field: "/power_state", "/interfaces/*/mtu"; required.
	Field string `json:"field"`
	// Value is the approved actual value, as JSON; required. A change under Field is
	// excepted when the actual value at Field is exactly this (JSON compared canonically).
	Value json.RawMessage `json:"value"`
	// ExpiresAt ends the exception; required. From then on it suppresses nothing.
	ExpiresAt time.Time `json:"expires_at"`
	// Ticket is the change or risk ticket that approved it; required.
	Ticket string `json:"ticket"`
	// Reason says why; required.
	Reason string `json:"reason"`
}

// Active reports whether the exception suppresses drifts at now.
func (e Exception) Active(now time.Time) bool { return now.Before(e.ExpiresAt) }

func (e Exception) validate(at string) []error {
	var errs []error
	if err := requiredPointer(e.Field); err != nil {
		errs = append(errs, fmt.Errorf("%s.field: %w", at, err))
	}
	if len(e.Value) == 0 {
		errs = append(errs, fmt.Errorf("%s.value: required (the approved value, as JSON)", at))
	} else if _, err := Canonical(e.Value); err != nil {
		errs = append(errs, fmt.Errorf("%s.value: %w", at, err))
	}
	if e.ExpiresAt.IsZero() {
		errs = append(errs, fmt.Errorf("%s.expires_at: required", at))
	}
	if strings.TrimSpace(e.Ticket) == "" {
		errs = append(errs, fmt.Errorf("%s.ticket: required", at))
	}
	if strings.TrimSpace(e.Reason) == "" {
		errs = append(errs, fmt.Errorf("%s.reason: required", at))
	}
	return errs
}

// Window is a maintenance window in UTC: weekly (Days, Start, Duration) or one-off (From,
// To), not both.
type Window struct {
	// Days are the weekdays a weekly window opens on: "mon", "tue", "wed", "thu", "fri",
	// "sat", "sun".
	Days []string `json:"days,omitempty"`
	// Start is when a weekly window opens, "HH:MM" UTC.
	Start string `json:"start,omitempty"`
	// Duration is how long a weekly window stays open: a Go duration ("90m", "2h"), more
	// than 0 and at most 168h.
	Duration string `json:"duration,omitempty"`
	// From and To bound a one-off window, [From, To).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func (w Window) weekly() bool { return len(w.Days) > 0 || w.Start != "" || w.Duration != "" }

func (w Window) validate(at string) []error {
	oneOff := !w.From.IsZero() || !w.To.IsZero()
	switch {
	case w.weekly() && oneOff:
		return []error{fmt.Errorf("%s: either days, start and duration (weekly) or from and to (one-off), not both", at)}
	case oneOff:
		if w.From.IsZero() || w.To.IsZero() || !w.To.After(w.From) {
			return []error{fmt.Errorf("%s.to: a one-off window needs from and a later to", at)}
		}
		return nil
	case !w.weekly():
		return []error{fmt.Errorf("%s: either days, start and duration (weekly) or from and to (one-off)", at)}
	}
	var errs []error
	if len(w.Days) == 0 {
		errs = append(errs, fmt.Errorf("%s.days: required for a weekly window", at))
	}
	for i, d := range w.Days {
		if _, ok := weekdays[d]; !ok {
			errs = append(errs, fmt.Errorf("%s.days[%d]: %q is not one of mon, tue, wed, thu, fri, sat, sun", at, i, d))
		}
	}
	if _, err := time.Parse("15:04", w.Start); err != nil {
		errs = append(errs, fmt.Errorf("%s.start: %q is not HH:MM", at, w.Start))
	}
	if d, err := time.ParseDuration(w.Duration); err != nil || d <= 0 || d > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("%s.duration: %q is not a duration above 0 and at most 168h", at, w.Duration))
	}
	return errs
}

// Never is the ActAfter of a verdict whose policy has maintenance windows but none to come:
// its remediation waits until the policy changes.
var Never = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// NextWindow returns when remediation may run under windows at now: the zero time when now
// is inside one of them (or there are none), else the next opening, else Never.
func NextWindow(windows []Window, now time.Time) time.Time {
	if len(windows) == 0 {
		return time.Time{}
	}
	now = now.UTC()
	next := Never
	consider := func(open, end time.Time) bool {
		if !now.Before(open) && now.Before(end) {
			return true
		}
		if open.After(now) && open.Before(next) {
			next = open
		}
		return false
	}
	for _, w := range windows {
		if !w.weekly() {
			if consider(w.From.UTC(), w.To.UTC()) {
				return time.Time{}
			}
			continue
		}
		start, err1 := time.Parse("15:04", w.Start)
		dur, err2 := time.ParseDuration(w.Duration)
		if err1 != nil || err2 != nil {
			continue // Validate refuses it
		}
		midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		for k := -7; k <= 7; k++ {
			day := midnight.AddDate(0, 0, k)
			if !slices.ContainsFunc(w.Days, func(d string) bool { wd, ok := weekdays[d]; return ok && wd == day.Weekday() }) {
				continue
			}
			open := day.Add(time.Duration(start.Hour())*time.Hour + time.Duration(start.Minute())*time.Minute)
			if consider(open, open.Add(dur)) {
				return time.Time{}
			}
		}
	}
	return next
}

func requiredPointer(p string) error {
	if p == "" {
		return errors.New("required (a JSON pointer such as /power_state)")
	}
	return ValidPointer(p)
}
