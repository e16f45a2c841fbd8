// Package embedded is the durable in-process adapter of bus.Bus for a single node: every topic
// is an append-only log in one bbolt file, read through consumer groups with the semantics of
// Redis Streams consumer groups.
//
//   - A topic's messages are shared among the subscribers of one group and delivered to every
//     group. A new group starts from the oldest message.
//   - Delivery is at least once. Each (topic, group) has a persisted watermark that advances
//     past a message only once it and every earlier message handed out in that group were
//     acked; the acks above the watermark are persisted with it. After a crash or a restart,
//     every message that was not acked is delivered again. Acks are persisted in the next
//     commit, not before Ack returns, so one acked just before a crash may come again.
//   - A nacked message is delivered again to the same subscription, at once or after
//     Config.NackDelay. A subscription delivers one message at a time and waits for its ack,
//     so one subscriber in a group receives a topic in publish order.
//   - Publish returns once its messages are on disk (fsync). Concurrent Publish calls are
//     gathered by one committer goroutine into one transaction (group commit); subscribers
//     wake on an in-memory notification, never by polling.
//
// # Storage
//
// Bucket "topics" holds one bucket per topic; its keys are big-endian uint64 sequence
// numbers from 1, its values the message in the wire form of the redis bus (see package
// redisbus): a JSON object {"event": <CloudEvent>, "metadata": <object>}, metadata present only
// when needed, so UUID, metadata and payload round-trip exactly. Bucket "groups" holds one
// bucket per topic; its keys are group names, its values the big-endian uint64 watermark
// followed by the sequence numbers acked above it. Nothing is ever deleted: the log grows.
package embedded
