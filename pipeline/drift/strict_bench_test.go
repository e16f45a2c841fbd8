package drift_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// benchState is a ~4 KB observed state of 40 fields, some nested: the size the throughput
// benchmark uses.
func benchState() []byte {
	m := map[string]any{}
	for i := range 40 {
		switch i % 4 {
		case 0:
			m[fmt.Sprintf("field_%02d", i)] = fmt.Sprintf("value-%d-abcdefghijklmnopqrstuvwxyz", i)
		case 1:
			m[fmt.Sprintf("count_%02d", i)] = i * 1000
		case 2:
			m[fmt.Sprintf("nested_%02d", i)] = map[string]any{"enabled": true, "mtu": 1500, "name": fmt.Sprintf("eth%d", i), "addresses": []string{"10.0.0.1/24", "fe80::1/64"}}
		default:
			m[fmt.Sprintf("list_%02d", i)] = []any{"alpha", "beta", "gamma", i, 1.5}
		}
	}
	b, _ := json.Marshal(m)
	for len(b) < 4000 {
		m[fmt.Sprintf("pad_%d", len(b))] = "padding-padding-padding-padding-padding-padding"
		b, _ = json.Marshal(m)
	}
	return b
}

func BenchmarkCanonicalStrict(b *testing.B) {
	doc := benchState()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := drift.CanonicalStrict(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashCanonical(b *testing.B) {
	doc, _ := drift.CanonicalStrict(benchState())
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		drift.HashCanonical(doc)
	}
}
