package esdbfake

import (
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// defaultSearchWindow is the server's search window when the client sets none.
const defaultSearchWindow = 32

// filter is a server-side filter on event types or stream names. A nil filter keeps
// every event.
type filter struct {
	onStream bool
	prefixes []string
	re       *regexp.Regexp
	// checkpointEvery is how many events a subscription considers between checkpoints.
	checkpointEvery uint64
}

// newFilter decodes filter options; it returns nil for none.
func newFilter(o *streams.ReadReq_Options_FilterOptions) (*filter, error) {
	if o == nil {
		return nil, nil
	}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	f := &filter{}
	switch by := o.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr = by.EventType
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, f.onStream = by.StreamIdentifier, true
	default:
		return nil, invalid("filter: event type or stream identifier required")
	}
	f.prefixes = expr.GetPrefix()
	if (expr.GetRegex() == "") == (len(f.prefixes) == 0) {
		return nil, invalid("filter: either a regex or prefixes required")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, invalid("filter: regex %q: %v", expr.GetRegex(), err)
		}
		f.re = re
	}
	window := uint64(defaultSearchWindow)
	if m, ok := o.GetWindow().(*streams.ReadReq_Options_FilterOptions_Max); ok {
		window = uint64(m.Max)
	}
	f.checkpointEvery = window * uint64(o.GetCheckpointIntervalMultiplier())
	return f, nil
}

// keeps reports whether r passes the filter.
func (f *filter) keeps(r *record) bool {
	if f == nil {
		return true
	}
	subject := r.eventType
	if f.onStream {
		subject = r.stream
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}
