// Package esdbfake is an in-memory EventStoreDB server for tests. EventStoreDB cannot run
// everywhere the tests do, so this fake stands in for it; it speaks the real wire protocol:
// gRPC, with the services generated in github.com/EventStore/EventStore-Client-Go/v4/protos,
// so a test drives the real client (esdb.Client v4.2.0) over a real connection.
//
// It serves exactly what that client sends for the esdb adapter of the event store port, on
// a single-node connection string ("esdb://127.0.0.1:PORT?tls=false"):
//
//   - ServerFeatures.GetSupportedMethods, which the client calls on connect (it reports
//     Version and the methods below);
//   - Streams.Append: the options message (stream identifier; expected revision any,
//     no_stream, stream_exists or an exact revision), then the proposed messages (id,
//     "type" and "content-type" metadata, custom metadata, data); the answer is success with
//     the stream's current revision and the position of the last event written, or
//     wrong_expected_version with the expected and the current revision (or current_no_stream);
//   - Streams.Read of one stream, forwards or backwards, from the start, the end or a
//     revision, with a count; a missing stream answers stream_not_found;
//   - Streams.Read of $all, forwards or backwards, from the start, the end or a position
//     (forwards inclusive, backwards exclusive, as the server reads), with a count;
//   - Streams.Read with subscription options on $all: the confirmation, then the stored
//     events after the start (a position start is exclusive), then caught_up, then live events
//     until the client cancels or the server stops. The filter options (event type or stream
//     name, by prefixes or regular expression) are honoured, with a checkpoint every max
//     search window × checkpoint interval multiplier events considered.
//
// Every event is committed on its own: its commit and prepare positions are equal, distinct
// and increasing, and, like the byte offsets of the server's log, neither contiguous nor zero.
// Events carry the "type", "content-type" and "created" (100 ns ticks since the Unix epoch)
// metadata the server sends.
//
// It does not implement: authentication and TLS; event IDs in the string form (the client
// sends and asks for the structured one); gossip and cluster discovery (a connection
// string with several hosts or esdb+discover fails to connect); BatchAppend, Delete and
// Tombstone (deleted and tombstoned streams, and so the stream-deleted error); subscriptions
// to a single stream; persistent subscriptions, projections, users and operations; link
// events and resolve_links; stream metadata ($$streams, $maxAge, $maxCount, ACLs); system
// events (there are none: $all holds only appended events); the server's idempotent writes
// (an event ID appended again is stored again; the adapter checks IDs itself); the legacy
// 20.6.0 fields of wrong_expected_version; the maximum append size; dropping a subscription
// whose client is too slow (the fake waits for it, by gRPC flow control); and the
// invalid-position error for a $all position that is not an event's.
package esdbfake
