package redisbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// benchPayload is the size and shape of a typical fact (a one-field diff).
var benchPayload = []byte(`{"ci_id":"web-1/etc/nginx/nginx.conf","changes":[{"path":"/http/server/listen","op":"replace","from":"80","to":"8080"}],"observed_hash":"sha256:3f1c2a9b","desired_hash":"sha256:77aa01de"}`)

// BenchmarkPublishConsume measures end-to-end throughput: publishers XADD b.N messages while
// one subscription in one group receives and acks them.
func BenchmarkPublishConsume(b *testing.B) {
	srv := redistest.Start(b)
	for _, publishers := range []int{1, 8} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			bus, err := redisbus.New(redisbus.Config{URL: srv.URL(), Consumer: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close()
			topic := "bench-" + watermill.NewShortUUID()
			sub, err := bus.Subscriber("bench")
			if err != nil {
				b.Fatal(err)
			}
			msgs, err := sub.Subscribe(context.Background(), topic)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := p; i < b.N; i += publishers {
						msg := message.NewMessage(watermill.NewUUID(), benchPayload)
						msg.Metadata.Set(event.MetaType, "io.driftwatch.diff-computed.v1")
						if err := bus.Publisher().Publish(topic, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			timeout := time.After(2 * time.Minute)
			for i := 0; i < b.N; i++ {
				select {
				case msg := <-msgs:
					msg.Ack()
				case <-timeout:
					b.Fatalf("received %d of %d", i, b.N)
				}
			}
			b.StopTimer()
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
