package esdbfake

import (
	"errors"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// Append serves Streams.Append: the options, then the proposed messages, written at once
// when the client closes its side, if the stream is at the expected revision.
func (s *streamsServer) Append(srv streams.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return invalid("append: the first message must carry the options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return invalid("append: stream name required")
	}
	expects, err := expectation(opts)
	if err != nil {
		return err
	}
	var events []proposal
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p, err := proposalFrom(req.GetProposedMessage())
		if err != nil {
			return err
		}
		events = append(events, p)
	}
	return srv.SendAndClose(appendResponse(opts, s.log.append(stream, expects, events)))
}

// expectation returns the check of the stream's current revision (-1: no stream) that the
// append's expected revision asks for.
func expectation(opts *streams.AppendReq_Options) (func(current int64) bool, error) {
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		return func(int64) bool { return true }, nil
	case *streams.AppendReq_Options_NoStream:
		return func(current int64) bool { return current < 0 }, nil
	case *streams.AppendReq_Options_StreamExists:
		return func(current int64) bool { return current >= 0 }, nil
	case *streams.AppendReq_Options_Revision:
		return func(current int64) bool { return current >= 0 && uint64(current) == e.Revision }, nil
	}
	return nil, invalid("append: expected stream revision required")
}

// appendResponse encodes an append's outcome.
func appendResponse(opts *streams.AppendReq_Options, o outcome) *streams.AppendResp {
	if !o.written {
		return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(opts, o.current),
		}}
	}
	ok := &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}},
		PositionOption:        &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
	}
	if o.current >= 0 {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(o.current)}
	}
	if o.last != nil {
		ok.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: o.last.position, PreparePosition: o.last.position,
		}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}}
}

// wrongExpectedVersion reports the expected revision back, with the stream's current one.
func wrongExpectedVersion(opts *streams.AppendReq_Options, current int64) *streams.AppendResp_WrongExpectedVersion {
	w := &streams.AppendResp_WrongExpectedVersion{
		CurrentRevisionOption: &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}},
	}
	if current >= 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
	}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *streams.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	case *streams.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
	}
	return w
}
