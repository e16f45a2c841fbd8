package esdbfake

import (
	"sort"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// Read serves Streams.Read: a read of one stream or of $all with a count, or, with
// subscription options, a subscription to $all.
func (s *streamsServer) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return invalid("read: options required")
	}
	if err := structuredIDs(o); err != nil {
		return err
	}
	if o.GetSubscription() != nil {
		return s.subscribe(o, srv)
	}
	if o.GetCountOption() == nil {
		return invalid("read: count or subscription required")
	}
	f, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	var recs []*record
	switch {
	case o.GetStream() != nil:
		var found bool
		if recs, found = s.readStream(o.GetStream(), o.GetReadDirection()); !found {
			return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
				StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: o.GetStream().GetStreamIdentifier()},
			}})
		}
	case o.GetAll() != nil:
		recs = s.readAll(o.GetAll(), o.GetReadDirection())
	default:
		return invalid("read: stream or $all required")
	}
	left := o.GetCount()
	for _, r := range recs {
		if left == 0 {
			break
		}
		if !f.keeps(r) {
			continue
		}
		if err := srv.Send(eventMessage(r)); err != nil {
			return err
		}
		left--
	}
	return nil
}

// readStream returns the events of a stream in the order of the read, from its start on,
// and whether the stream exists.
func (s *streamsServer) readStream(o *streams.ReadReq_Options_StreamOptions, dir streams.ReadReq_Options_ReadDirection) ([]*record, bool) {
	recs, ok := s.log.stream(string(o.GetStreamIdentifier().GetStreamName()))
	if !ok {
		return nil, false
	}
	n := uint64(len(recs))
	if dir == streams.ReadReq_Options_Forwards {
		switch from := o.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_End:
			return nil, true
		case *streams.ReadReq_Options_StreamOptions_Revision:
			return recs[min(from.Revision, n):], true
		}
		return recs, true
	}
	last := n - 1
	switch from := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Start:
		last = 0
	case *streams.ReadReq_Options_StreamOptions_Revision:
		last = min(from.Revision, last)
	}
	return reversed(recs[:last+1]), true
}

// readAll returns the events of $all in the order of the read, from its start on: forwards
// from a position includes the event there, backwards excludes it.
func (s *streamsServer) readAll(o *streams.ReadReq_Options_AllOptions, dir streams.ReadReq_Options_ReadDirection) []*record {
	recs, _ := s.log.snapshot()
	at := func(p uint64) int { return sort.Search(len(recs), func(i int) bool { return recs[i].position >= p }) }
	if dir == streams.ReadReq_Options_Forwards {
		switch from := o.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_End:
			return nil
		case *streams.ReadReq_Options_AllOptions_Position:
			return recs[at(from.Position.GetCommitPosition()):]
		}
		return recs
	}
	switch from := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		return nil
	case *streams.ReadReq_Options_AllOptions_Position:
		return reversed(recs[:at(from.Position.GetCommitPosition())])
	}
	return reversed(recs)
}

// reversed returns a reversed copy of recs.
func reversed(recs []*record) []*record {
	out := make([]*record, len(recs))
	for i, r := range recs {
		out[len(recs)-1-i] = r
	}
	return out
}
