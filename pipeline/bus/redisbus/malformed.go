package redisbus

import (
	"encoding/json"
	"sort"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus"
)

// Limits on the raw copy a malformed message carries, so that a huge entry is not copied whole.
const (
	maxRawFields = 32
	maxRawBytes  = 4 << 10
)

// Malformed returns the message that stands for an entry that could not be decoded: a fresh
// UUID, bus.MetaMalformed set to reason, and as payload a JSON object of the raw fields (at most
// 32 of them, the event and metadata fields first, each key and value cut to 4 KiB).
func Malformed(reason string, fields map[string]string) *message.Message {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	raw := make(map[string]string, min(len(keys), maxRawFields))
	for _, k := range keys[:min(len(keys), maxRawFields)] {
		raw[truncate(k)] = truncate(fields[k])
	}
	// A map of strings always marshals.
	payload, _ := json.Marshal(raw)
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.Metadata.Set(bus.MetaMalformed, reason)
	return msg
}

// rank puts the wire-format fields before any others.
func rank(field string) int {
	switch field {
	case FieldEvent:
		return 0
	case FieldMetadata:
		return 1
	default:
		return 2
	}
}

// truncate cuts s to maxRawBytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxRawBytes {
		return s
	}
	n := maxRawBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
