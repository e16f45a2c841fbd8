// Package embedded is the adapter of bus.Bus for a single node: it keeps no log of its own.
// The event store is the log, and stages follow the store's feed with their own
// checkpoints, so that a fact is written once, durably, and its append is its delivery.
//
//   - Publish appends each message to the store: a registered fact on its own topic to its
//     fact stream (event.StreamOf), anything else to the stream "topic-<topic>", as a
//     CloudEvent whose extra metadata rides in the extension attribute "dwmetadata", under
//     an event id derived from the topic and the message's UUID (the same message on two
//     topics is two deliveries), and given back with its own UUID. Publish returns once the
//     store has the messages on disk.
//   - A consumer group's subscriptions in the bus share one reader of the store's feed,
//     which keeps the events of the subscribed topic: a fact type's topic is
//     event.TopicOf(type), a "topic-<t>" stream's is t. A new group starts from position 0.
//   - Messages are handed out concurrently, in lanes: messages with the same CloudEvents
//     subject (the CI) go out one at a time, each after the previous one was acked, so that
//     a stage sees one CI's facts in order while different CIs proceed in parallel. At most
//     Config.MaxInFlight messages per group are read ahead of their acks.
//   - Delivery is at least once. A group's checkpoint is the position up to which every
//     message of its topic was acked; it is persisted every Config.CheckpointInterval and on
//     Close, in a small bbolt file of its own. After a crash, what followed the persisted
//     checkpoint is delivered again (the stages are idempotent).
//   - A nacked message goes out again in its lane, at once or after Config.NackDelay.
//
// Nothing but the facts is written and the checkpoints are a few bytes per group, so
// repeated or duplicate messages add nothing to the bus: growth is the event store's own.
package embedded
