package embedded

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	bolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
)

// Top-level buckets (see the package documentation).
var (
	bucketTopics = []byte("topics")
	bucketGroups = []byte("groups")
)

// seqKey is the log key of sequence number seq.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// cursor is the persisted position of one group on one topic.
type cursor struct {
	// watermark is the highest seq such that it and every seq before it are acked.
	watermark uint64
	// acked lists, ascending, the seqs above watermark that are acked.
	acked []uint64
}

// encode packs the cursor as big-endian uint64s: watermark, then acked.
func (c cursor) encode() []byte {
	b := make([]byte, 0, 8*(1+len(c.acked)))
	b = binary.BigEndian.AppendUint64(b, c.watermark)
	for _, s := range c.acked {
		b = binary.BigEndian.AppendUint64(b, s)
	}
	return b
}

// decodeCursor is the inverse of cursor.encode.
func decodeCursor(b []byte) (cursor, error) {
	if len(b) < 8 || len(b)%8 != 0 {
		return cursor{}, fmt.Errorf("group cursor of %d bytes, want a multiple of 8", len(b))
	}
	c := cursor{watermark: binary.BigEndian.Uint64(b)}
	for i := 8; i < len(b); i += 8 {
		c.acked = append(c.acked, binary.BigEndian.Uint64(b[i:]))
	}
	return c, nil
}

// initBuckets creates the top-level buckets and returns the last seq of every topic.
func initBuckets(db *bolt.DB) (map[string]uint64, error) {
	last := make(map[string]uint64)
	err := db.Update(func(tx *bolt.Tx) error {
		topics, err := tx.CreateBucketIfNotExists(bucketTopics)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketGroups); err != nil {
			return err
		}
		return topics.ForEachBucket(func(name []byte) error {
			last[string(name)] = topics.Bucket(name).Sequence()
			return nil
		})
	})
	return last, err
}

// loadCursor reads the cursor of group on topic; a group never seen starts at zero.
func loadCursor(db *bolt.DB, topic, group string) (cursor, error) {
	var c cursor
	err := db.View(func(tx *bolt.Tx) error {
		gb := tx.Bucket(bucketGroups).Bucket([]byte(topic))
		if gb == nil {
			return nil
		}
		v := gb.Get([]byte(group))
		if v == nil {
			return nil
		}
		var err error
		c, err = decodeCursor(v)
		return err
	})
	if err != nil {
		return cursor{}, fmt.Errorf("load cursor of %s on %s: %w", group, topic, err)
	}
	return c, nil
}

// encodeEntry renders msg in the stored wire form, refusing one over maxBytes.
func encodeEntry(msg *message.Message, maxBytes int) ([]byte, error) {
	e, err := redisbus.EncodeEntry(msg)
	if err != nil {
		return nil, err
	}
	if e.Size() > maxBytes {
		return nil, fmt.Errorf("entry is %d bytes, over the %d-byte limit", e.Size(), maxBytes)
	}
	// Built by hand: json.Marshal would HTML-escape the event and so change payload bytes.
	v := make([]byte, 0, len(e.Event)+len(e.Metadata)+32)
	v = append(v, `{"event":`...)
	v = append(v, e.Event...)
	if e.Metadata != nil {
		v = append(v, `,"metadata":`...)
		v = append(v, e.Metadata...)
	}
	return append(v, '}'), nil
}

// storedEntry is the stored wire form with its fields kept raw.
type storedEntry struct {
	Event    json.RawMessage `json:"event"`
	Metadata json.RawMessage `json:"metadata"`
}

// decodeEntry turns a stored value back into a message. Like the redis bus it never fails: a
// value it cannot read becomes a message flagged with bus.MetaMalformed.
func decodeEntry(v []byte, maxBytes int) *message.Message {
	var e storedEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return redisbus.Malformed("stored entry: not a JSON object: "+err.Error(), map[string]string{"stored": string(v)})
	}
	values := make(map[string]any, 2)
	if e.Event != nil {
		values[redisbus.FieldEvent] = string(e.Event)
	}
	if e.Metadata != nil {
		values[redisbus.FieldMetadata] = string(e.Metadata)
	}
	return redisbus.DecodeEntry(values, maxBytes)
}

// readEntry loads and decodes the message at seq of topic. Like decodeEntry it never fails: a
// missing or unreadable value (a file changed behind the bus's back) comes back flagged with
// bus.MetaMalformed, so that the poison middleware parks it and the group moves on.
func readEntry(db *bolt.DB, topic string, seq uint64, maxBytes int) *message.Message {
	var v []byte
	err := db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTopics).Bucket([]byte(topic))
		if tb == nil {
			return errors.New("no such topic")
		}
		// Values are only valid inside the transaction.
		v = append([]byte(nil), tb.Get(seqKey(seq))...)
		return nil
	})
	if err == nil && len(v) == 0 {
		err = errors.New("no such entry")
	}
	if err != nil {
		return redisbus.Malformed(fmt.Sprintf("stored entry %s #%d: %v", topic, seq, err), map[string]string{})
	}
	return decodeEntry(v, maxBytes)
}
