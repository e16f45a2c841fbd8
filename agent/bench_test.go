package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/agent/publish"
	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
)

// BenchmarkWriteToPublished measures a file write until its observation is on the
// observations stream in Redis (XADD by the agent, seen by a blocking XREAD), with the default
// debounce. Run with -benchtime=300x: each iteration is one save.
func BenchmarkWriteToPublished(b *testing.B) {
	for _, files := range []int{7, 1000} {
		b.Run(fmt.Sprintf("watching_%d_files", files), func(b *testing.B) { benchmarkWrite(b, files) })
	}
}

func benchmarkWrite(b *testing.B, files int) {
	srv := redistest.Start(b)
	dir := b.TempDir()
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("f%04d.conf", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("key = value\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	stream := "bench-observations"
	sender, err := publish.NewRedis(srv.URL(), stream, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cfg := agent.Config{CIID: "bench", Paths: paths, StateDir: filepath.Join(dir, "state"), SnapshotInterval: time.Hour,
		Server: agent.ServerConfig{RedisURL: srv.URL(), Stream: stream}}
	cfg.SetDefaults()
	a, err := agent.New(cfg, agent.Deps{Key: key, FingerprintKey: []byte("bench-fingerprint-key"), Sender: sender, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	client := srv.Client()
	last := "0-0"
	// next blocks until the next entry is on the stream.
	next := func() {
		res, err := client.XRead(context.Background(), &goredis.XReadArgs{Streams: []string{stream, last}, Count: 1, Block: 5 * time.Second}).Result()
		if err != nil {
			b.Fatalf("xread: %v", err)
		}
		last = res[0].Messages[0].ID
	}
	next() // the start-up snapshot
	target := paths[len(paths)/2]
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := os.WriteFile(target, fmt.Appendf(nil, "key = value %d\n", i), 0o644); err != nil {
			b.Fatal(err)
		}
		next()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}
