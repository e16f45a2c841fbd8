package esdbfake

import (
	"sort"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// subscribe serves a subscription to $all: the confirmation, the stored events after the
// start, caught_up, then each event as it is appended, until the client cancels.
func (s *streamsServer) subscribe(o *streams.ReadReq_Options, srv streams.Streams_ReadServer) error {
	all := o.GetAll()
	if all == nil {
		return status.Error(codes.Unimplemented, "esdbfake: only subscriptions to $all are implemented")
	}
	f, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	if f != nil && f.checkpointEvery == 0 {
		return invalid("filter: checkpoint interval multiplier and max search window must be positive")
	}
	confirmation := &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()}
	if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: confirmation}}); err != nil {
		return err
	}
	recs, grown := s.log.snapshot()
	next := len(recs)
	switch from := all.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		next = 0
	case *streams.ReadReq_Options_AllOptions_Position:
		// The server starts after the event at the position.
		p := from.Position.GetCommitPosition()
		next = sort.Search(len(recs), func(i int) bool { return recs[i].position > p })
	}
	var considered uint64
	caughtUp := false
	for {
		for ; next < len(recs); next++ {
			r := recs[next]
			if f.keeps(r) {
				if err := srv.Send(eventMessage(r)); err != nil {
					return err
				}
			}
			considered++
			if f != nil && considered%f.checkpointEvery == 0 {
				if err := srv.Send(checkpoint(r.position)); err != nil {
					return err
				}
			}
		}
		if !caughtUp {
			if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
			caughtUp = true
		}
		select {
		case <-grown:
			recs, grown = s.log.snapshot()
		case <-srv.Context().Done():
			return status.FromContextError(srv.Context().Err()).Err()
		}
	}
}

// checkpoint tells a filtered subscription how far the server has looked.
func checkpoint(position uint64) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
		CommitPosition: position, PreparePosition: position,
	}}}
}
