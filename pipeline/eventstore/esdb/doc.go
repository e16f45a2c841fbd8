// Package esdb is the EventStoreDB adapter of the eventstore.Store port, for deployments that
// already run EventStoreDB. It uses the gRPC client
// (github.com/EventStore/EventStore-Client-Go/v4/esdb) and passes the contract suite in
// internal/testsupport/storetest: on every run against esdbfake (the real client over real gRPC to an
// in-memory server that mirrors the wire protocol), and against a real server when
// DRIFTWATCH_EVENTSTORE_URL points at one.
//
// Mapping. Expected revisions map one to one (Any, NoStream, StreamExists, an exact revision);
// a wrong expected version becomes an *eventstore.WrongRevisionError. A Position is the
// commit position of an event in $all: every event of a gRPC append is committed on its own,
// so commit positions are distinct and increasing (only legacy TCP-client transactions share
// one, and they are not used here). ReadAll and Subscribe skip system events (types starting
// with "$") and, since EventStoreDB reads $all from a position inclusively, every event at
// or before the position asked for.
//
// Idempotency. EventStoreDB recognises a repeated event ID reliably only when the append's
// expected revision places it where it was first written, and otherwise from a cache of
// recent writes. So before it appends, Append reads the last DedupWindow events of the stream
// and drops the events whose ID it finds there; if nothing is left it returns the stored
// copy's result without writing. After a wrong-expected-version answer it reads the tail
// again, since the conflict may be a concurrent copy of the same events. Limits: an ID
// stored earlier than the window, or in another stream, is not found by this check; two
// concurrent Appends with Any of the same new ID rely on the server's own cache. In
// driftwatch a redelivered message arrives soon after the first copy and goes to the same
// stream, which the window covers.
package esdb
