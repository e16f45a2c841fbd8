package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEnvelope writes a structured-mode CloudEvent whose data is JSON that driftwatch
// encoded itself (json.Marshal of a fact): data goes in as it is, with no compaction or
// validation, which encoding/json would repeat on every hop.
func appendEnvelope(b []byte, e Envelope) []byte {
	b = append(b, `{"specversion":`...)
	b = appendString(b, e.SpecVersion)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	if e.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendString(b, e.Subject)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if e.DataContentType != "" {
		b = append(b, `,"datacontenttype":`...)
		b = appendString(b, e.DataContentType)
	}
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	if e.DataBase64 != "" {
		b = append(b, `,"data_base64":`...)
		b = appendString(b, e.DataBase64)
	}
	if e.CorrelationID != "" {
		b = append(b, `,"correlationid":`...)
		b = appendString(b, e.CorrelationID)
	}
	if e.CausationID != "" {
		b = append(b, `,"causationid":`...)
		b = appendString(b, e.CausationID)
	}
	if e.StorePosition != 0 {
		// A string: CloudEvents integers are 32-bit, positions are not.
		b = append(b, `,"storeposition":"`...)
		b = strconv.AppendUint(b, e.StorePosition, 10)
		b = append(b, '"')
	}
	if e.Metadata != "" {
		b = append(b, `,"dwmetadata":`...)
		b = appendString(b, e.Metadata)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD, HTML characters left as they are.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = strconv.AppendInt(b, int64(r&0xf), 16)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
