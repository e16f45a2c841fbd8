// Package bolt is the embedded, durable event store: the default adapter of the
// eventstore.Store port, a single bbolt file in one data directory.
//
// Why bbolt: it is pure Go (no cgo, one static binary), keeps everything in a single file,
// and gives ACID transactions with an fsync on every commit. Its ordered B+tree fits an
// append-only log: events keyed by their big-endian global position read back in order with a
// cursor, a second bucket keyed by stream and revision serves ReadStream, and a third maps
// each event ID to its position for idempotency, all updated in the same transaction. Its
// file lock allows one process per data directory, which is how driftwatch runs it: one
// process owns the store and the others reach it through the bus.
//
// Writes go through one committer goroutine that gathers concurrent Appends into a single
// transaction (group commit): one fsync per batch, while each caller still gets its own
// result, so one caller's revision conflict does not fail the others. Append returns once
// its batch is on disk. Subscriptions read the log in pages and, once caught up, wait for the
// committer's broadcast after each commit; nothing polls.
package bolt
