package redisbus

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// Marshaller is the wire format (see the package documentation) as a watermill-redisstream
// marshaller. Unlike the stock one, its Unmarshal never fails, so a bad entry cannot end a
// subscription.
type Marshaller struct {
	// MaxEntryBytes is the largest entry marshalled or unmarshalled; 0 means no limit.
	MaxEntryBytes int
}

var _ redisstream.MarshallerUnmarshaller = Marshaller{}

// Marshal renders msg as the fields of one stream entry. It fails on a message without a
// UUID or one whose entry would exceed MaxEntryBytes.
func (m Marshaller) Marshal(_ string, msg *message.Message) (map[string]any, error) {
	e, err := EncodeEntry(msg)
	if err != nil {
		return nil, err
	}
	if m.MaxEntryBytes > 0 && e.Size() > m.MaxEntryBytes {
		// Deterministic: publishing it again cannot help, so the stage poisons it at once.
		return nil, fault.Permanent(fmt.Errorf("entry is %d bytes, over the %d-byte limit", e.Size(), m.MaxEntryBytes))
	}
	return e.Values(), nil
}

// Unmarshal decodes a stream entry; an entry it cannot decode comes back flagged with
// bus.MetaMalformed. The error is always nil.
func (m Marshaller) Unmarshal(values map[string]any) (*message.Message, error) {
	return DecodeEntry(values, m.MaxEntryBytes), nil
}
