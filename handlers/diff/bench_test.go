package diff_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// document returns a ~4 KB state: 130 settings and a list of 40 interfaces.
func document(change bool) string {
	var b strings.Builder
	b.WriteString(`{"settings":{`)
	for i := range 130 {
		v := i
		if change && i == 7 {
			v = -1
		}
		fmt.Fprintf(&b, `"setting_%03d":%d,`, i, v)
	}
	b.WriteString(`"last":true},"interfaces":[`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"eth%d","mtu":1500,"addresses":["10.0.%d.1/24"]}`, i, i)
	}
	b.WriteString(`],"power_state":"on"}`)
	return b.String()
}

// BenchmarkHandle measures the diff stage on a 4 KB document: equal hashes skip decoding
// and diffing; a one-field change pays for the full comparison.
func BenchmarkHandle(b *testing.B) {
	m := &stateMap{}
	s := newDiff(b, m)
	for _, c := range []struct {
		name   string
		actual string
	}{{"equal_hashes", document(false)}, {"one_field_differs", document(true)}} {
		in := resolved(m, document(false), c.actual)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.actual)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Handle(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBenchmarkDocumentIsAbout4KB(t *testing.T) {
	t.Parallel()
	if n := len(document(false)); n < 3000 || n > 5000 || !json.Valid([]byte(document(true))) {
		t.Fatalf("document is %d bytes", n)
	}
}
