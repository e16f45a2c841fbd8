// Package redisbus is the Redis Streams adapter of bus.Bus. Each topic is a stream key; each
// handler is a consumer group whose consumer name is stable per process.
//
//   - Subscriptions read in batches (XREADGROUP COUNT ReadBatch) and hand messages to the
//     router concurrently, in lanes: one CloudEvents subject (one CI) at a time, each after
//     the previous was acked; acks go back in batches (one XACK for many ids). A restarted
//     consumer reads back its own pending entries first; entries of a dead consumer idle
//     longer than MaxIdleTime are claimed (XAUTOCLAIM) by a live one.
//   - The publisher pipelines the XADDs of concurrent Publish calls in one round trip.
//   - Streams are trimmed (XTRIM MINID) of what every group has acknowledged, never of an
//     entry a group has not read or not acknowledged; the public drift.* streams keep
//     PublicRetention more for subscribers that attach later. A group with more than
//     MaxLag entries waiting is logged at Warn and reported by Lagging.
//
// The wire format is watermill-redisstream's marshaller contract (Marshaller implements
// redisstream.MarshallerUnmarshaller), so stock watermill-redisstream subscribers and
// publishers can read and write these streams too.
//
// # Wire format
//
// One message is one stream entry with these fields:
//
//	event     the CloudEvents 1.0 structured-mode JSON of the message (always present)
//	metadata  a JSON object of string values (present only when needed, see below)
//
// The event is event.EnvelopeOf(msg): its "id" is the watermill message UUID; "type",
// "source", "subject", "time", "correlationid" and "causationid" come from the metadata keys
// ce_type, ce_source, ce_subject, ce_time, correlation_id and causation_id. A JSON payload
// travels as "data" with "datacontenttype":"application/json"; any other payload travels as
// "data_base64" ("application/octet-stream"). A JSON payload that compacting would change
// (insignificant whitespace) travels as "data_base64" with "application/json", so that payload
// bytes round-trip exactly.
//
// The metadata field holds every metadata key the event does not reproduce: all keys except
// the six above, plus any of those six whose value the event would not give back verbatim
// (a ce_time not in RFC 3339 UTC form, for instance). Decoding applies it after the event.
// A message published without CloudEvents metadata is received with ce_type, ce_source and
// ce_time filled in from the event. Other fields of an entry are ignored.
//
// Example, as redis-cli shows it:
//
//	XADD driftwatch.diff-computed.v1 * event '{"specversion":"1.0","id":"6f1c…","source":"driftwatch","type":"io.driftwatch.diff-computed.v1","subject":"ci-42","time":"2025-01-02T03:04:05.123Z","datacontenttype":"application/json","data":{"changes":1},"correlationid":"c-9"}' metadata '{"attempt":"2"}'
//
// Any language can XREADGROUP the stream and JSON-decode the event field.
//
// # Malformed entries
//
// Decoding never fails: an entry that cannot be decoded (no event field, an event that is not
// a valid CloudEvent, metadata that is not a JSON object of strings, or an entry over
// MaxEntryBytes) becomes a message with a fresh UUID, metadata bus.MetaMalformed set to the
// reason, and as payload a JSON object of the raw entry fields (at most 32 fields, each key
// and value cut to 4 KiB). The poison middleware parks it; the subscription goes on.
package redisbus
