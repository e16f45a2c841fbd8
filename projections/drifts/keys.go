package drifts

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// timeKey sorts like the time: fixed width, UTC, nanoseconds.
const timeKey = "20060102T150405.000000000Z"

// orderKey places a drift in detection order: detected_at, then drift id.
func orderKey(d Drift) []byte {
	return []byte(d.DetectedAt.UTC().Format(timeKey) + "\x00" + d.ID)
}

// orderValue carries what List filters on, so that a listing decodes only the drifts it
// returns.
func orderValue(d Drift) []byte {
	return []byte(strings.Join([]string{d.ID, string(d.Status), d.CIID, string(d.Category), string(d.Severity)}, "\x00"))
}

// parseOrderValue is the inverse of orderValue.
func parseOrderValue(v []byte) (id string, status drift.Status, ci string, cat drift.Category, sev drift.Severity, ok bool) {
	p := strings.Split(string(v), "\x00")
	if len(p) != 5 {
		return "", "", "", "", "", false
	}
	return p[0], drift.Status(p[1]), p[2], drift.Category(p[3]), drift.Severity(p[4]), true
}

// seenValue carries what Coverage counts of a CI, so that a report decodes no CI record: when
// it was last verified (unix nanoseconds, 0 for never) and whether it has unresolved drift.
func seenValue(ci CI) []byte {
	v := make([]byte, 9)
	if last := lastVerified(ci); !last.IsZero() {
		binary.BigEndian.PutUint64(v, uint64(last.UnixNano()))
	}
	if ci.OpenDrifts > 0 {
		v[8] = 1
	}
	return v
}

// parseSeenValue is the inverse of seenValue.
func parseSeenValue(v []byte) (last time.Time, drifted, ok bool) {
	if len(v) != 9 {
		return time.Time{}, false, false
	}
	if n := binary.BigEndian.Uint64(v); n != 0 {
		last = time.Unix(0, int64(n)).UTC()
	}
	return last, v[8] == 1, true
}

// ciOpenKey indexes an unresolved drift under its CI; with an empty drift id it is the CI's
// prefix.
func ciOpenKey(ciID, driftID string) []byte { return []byte(ciID + "\x00" + driftID) }

// Dimensions of the report counts.
const (
	dimCIType   = "ci_type"
	dimCategory = "category"
	dimSeverity = "severity"
)

// countKey names one counter: drifts with this value of the dimension and this status.
func countKey(dim, value string, status drift.Status) []byte {
	return []byte(dim + "\x00" + value + "\x00" + string(status))
}

// addCounts adds n (1 or -1) to every counter d belongs to. Counters at zero are deleted, so
// that a model holds the same keys however it got to its counts.
func (b model) addCounts(d Drift, n int64) error {
	ciType := d.CIType
	if ciType == "" {
		ciType = "unknown"
	}
	for _, k := range [][]byte{
		countKey(dimCIType, ciType, d.Status),
		countKey(dimCategory, string(d.Category), d.Status),
		countKey(dimSeverity, string(d.Severity), d.Status),
	} {
		var cur int64
		if v := b.count.Get(k); len(v) == 8 {
			cur = int64(binary.BigEndian.Uint64(v))
		}
		cur += n
		if cur <= 0 {
			if err := b.count.Delete(k); err != nil {
				return err
			}
			continue
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(cur))
		if err := b.count.Put(k, v[:]); err != nil {
			return err
		}
	}
	return nil
}
