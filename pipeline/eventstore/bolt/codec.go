package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"
	bbolt "go.etcd.io/bbolt"

	"github.com/driftwatch/driftwatch/pipeline/eventstore"
)

// Buckets of the database file.
var (
	// bucketEvents maps a position (8 bytes, big-endian) to an encoded record.
	bucketEvents = []byte("events")
	// bucketStreams maps a stream key and a revision (see streamKey) to a position.
	bucketStreams = []byte("streams")
	// bucketIDs maps an event ID (16 bytes) to its position.
	bucketIDs = []byte("ids")
)

// The first byte of every encoded record says its format, so that it can change.
const (
	recordVersion    = 1 // data as appended
	recordCompressed = 2 // data compressed with zstd (see packData)
)

// compressAbove is the size from which an event's data is stored compressed: a state of a
// few KB, which would otherwise span two pages, shrinks to a fraction of one.
const compressAbove = 1024

var (
	zEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
)

// packData copies data for storage, compressed when it is large and compression pays.
func packData(data []byte) (stored []byte, compressed bool) {
	if len(data) >= compressAbove {
		z := zEncoder.EncodeAll(data, make([]byte, 0, len(data)/2))
		if len(z) < len(data)*7/8 {
			return z, true
		}
	}
	return bytes.Clone(data), false
}

// u64 encodes v big-endian, so that byte order is numeric order.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// beUint64 decodes a big-endian position; anything but 8 bytes reads as 0, which no event has.
func beUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// streamPrefix is the length-prefixed stream name: no prefix of one stream is the prefix of
// another, so a cursor scan stays within its stream.
func streamPrefix(stream string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(stream)))
	return append(b, stream...)
}

// streamKey is the key of a stream's event at revision rev in bucketStreams.
func streamKey(prefix []byte, rev uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(prefix), rev)
}

// streamHead finds the last revision of the stream with prefix in bucketStreams: its keys
// sort by revision, so the head is the last key with the prefix, on the leaf page an append
// writes next anyway. It returns the key's value (the head's position) too.
func streamHead(streams *bbolt.Bucket, prefix []byte) (rev uint64, pos []byte, exists bool) {
	c := streams.Cursor()
	k, _ := c.Seek(streamKey(prefix, math.MaxUint64))
	if k == nil {
		k, pos = c.Last()
	} else {
		k, pos = c.Prev()
	}
	if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), pos, true
}

// pending is an event checked and ready for the committer.
type pending struct {
	id         uuid.UUID
	typ        string
	data       []byte // as packData left it
	compressed bool
}

// encodeRecord lays out a record: version, stream, revision, id, type, recorded-at, data.
func encodeRecord(stream string, rev uint64, e pending, at time.Time) []byte {
	b := make([]byte, 0, 1+len(stream)+len(e.typ)+len(e.data)+48)
	if e.compressed {
		b = append(b, recordCompressed)
	} else {
		b = append(b, recordVersion)
	}
	b = binary.AppendUvarint(b, uint64(len(stream)))
	b = append(b, stream...)
	b = binary.AppendUvarint(b, rev)
	b = append(b, e.id[:]...)
	b = binary.AppendUvarint(b, uint64(len(e.typ)))
	b = append(b, e.typ...)
	b = binary.AppendVarint(b, at.UnixNano())
	return append(b, e.data...)
}

var errCorrupt = errors.New("corrupt record")

// decodeRecord reads a record stored at pos. It copies everything: bbolt's bytes are valid
// only inside their transaction.
func decodeRecord(pos uint64, b []byte) (eventstore.Recorded, error) {
	r, _, err := decodeRecordIf(pos, b, nil)
	return r, err
}

// decodeRecordIf reads a record stored at pos if keep (nil: any) keeps its stream and type,
// copying its data only then; kept is false for a record skipped.
func decodeRecordIf(pos uint64, b []byte, keep eventstore.Filter) (r eventstore.Recorded, kept bool, err error) {
	r = eventstore.Recorded{Position: eventstore.Position(pos)}
	fail := func(what string) (eventstore.Recorded, bool, error) {
		return eventstore.Recorded{}, false, fmt.Errorf("decode event at position %d: %w: %s", pos, errCorrupt, what)
	}
	if len(b) == 0 || b[0] != recordVersion && b[0] != recordCompressed {
		return fail("unknown version")
	}
	compressed := b[0] == recordCompressed
	b = b[1:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, false
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, true
	}
	stream, ok := field()
	if !ok {
		return fail("stream")
	}
	rev, k := binary.Uvarint(b)
	if k <= 0 || len(b)-k < 16 {
		return fail("revision")
	}
	b = b[k:]
	id := uuid.UUID(b[:16])
	b = b[16:]
	typ, ok := field()
	if !ok {
		return fail("type")
	}
	// The filter sees the bytes in place (it must not keep them): skipping copies nothing.
	if keep != nil && !keep(unsafe.String(unsafe.SliceData(stream), len(stream)), unsafe.String(unsafe.SliceData(typ), len(typ))) {
		return eventstore.Recorded{}, false, nil
	}
	at, k := binary.Varint(b)
	if k <= 0 {
		return fail("recorded at")
	}
	r.Stream, r.Revision, r.ID, r.Type = string(stream), rev, id.String(), string(typ)
	r.RecordedAt = time.Unix(0, at).UTC()
	switch {
	case compressed:
		if r.Data, err = zDecoder.DecodeAll(b[k:], nil); err != nil {
			return fail("data: " + err.Error())
		}
	case len(b) > k:
		r.Data = bytes.Clone(b[k:])
	}
	return r, true, nil
}
