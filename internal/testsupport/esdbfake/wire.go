package esdbfake

import (
	"encoding/binary"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Metadata keys and content types of the wire protocol.
const (
	metaType        = "type"
	metaContentType = "content-type"
	metaCreated     = "created"
	contentJSON     = "application/json"
	contentBinary   = "application/octet-stream"
)

// structuredIDs checks that a read asks for IDs in the structured form, as the client does.
func structuredIDs(o *streams.ReadReq_Options) error {
	if o.GetUuidOption().GetString_() != nil {
		return status.Error(codes.Unimplemented, "esdbfake: only structured event ids are implemented")
	}
	return nil
}

// invalid is the status the server answers a malformed request with.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// uuidFrom decodes an ID in the structured form, the one the client sends.
func uuidFrom(id *shared.UUID) (uuid.UUID, error) {
	v, ok := id.GetValue().(*shared.UUID_Structured_)
	if !ok {
		return uuid.Nil, status.Error(codes.Unimplemented, "esdbfake: only structured event ids are implemented")
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(v.Structured.GetMostSignificantBits()))
	binary.BigEndian.PutUint64(b[8:], uint64(v.Structured.GetLeastSignificantBits()))
	return uuid.UUID(b), nil
}

// uuidTo encodes an ID in the structured form.
func uuidTo(id uuid.UUID) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

// proposalFrom checks and decodes a proposed message; the server requires the type and
// content-type metadata, and stores whether the content is JSON.
func proposalFrom(m *streams.AppendReq_ProposedMessage) (proposal, error) {
	if m == nil {
		return proposal{}, invalid("append: expected a proposed message after the options")
	}
	id, err := uuidFrom(m.GetId())
	if err != nil {
		return proposal{}, err
	}
	typ, okType := m.GetMetadata()[metaType]
	ct, okCT := m.GetMetadata()[metaContentType]
	if !okType || !okCT {
		return proposal{}, invalid("event %s: metadata %q and %q are required", id, metaType, metaContentType)
	}
	if ct != contentJSON {
		ct = contentBinary
	}
	return proposal{id: id, eventType: typ, contentType: ct, custom: m.GetCustomMetadata(), data: m.GetData()}, nil
}

// eventMessage is the read response carrying r. Every event commits itself, so its commit
// and prepare positions are its own, in stream reads as in $all.
func eventMessage(r *record) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               uuidTo(r.id),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.position,
			CommitPosition:   r.position,
			Metadata: map[string]string{
				metaType:        r.eventType,
				metaContentType: r.contentType,
				// .NET ticks (100 ns) since the Unix epoch.
				metaCreated: strconv.FormatInt(r.created.UnixNano()/100, 10),
			},
			CustomMetadata: r.custom,
			Data:           r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.position},
	}}}
}
