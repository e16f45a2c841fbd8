package embedded_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// benchPayload is the size and shape of a typical fact (a one-field diff).
var benchPayload = []byte(`{"ci_id":"web-1/etc/nginx/nginx.conf","changes":[{"path":"/http/server/listen","op":"replace","from":"80","to":"8080"}],"observed_hash":"sha256:3f1c2a9b","desired_hash":"sha256:77aa01de"}`)

func benchMessage() *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), benchPayload)
	msg.Metadata.Set(event.MetaType, "io.driftwatch.diff-computed.v1")
	return msg
}

// publishAll publishes n messages to topic from publishers goroutines, one message per call.
func publishAll(b *testing.B, bus *embedded.Bus, topic string, n, publishers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += publishers {
				if err := bus.Publisher().Publish(topic, benchMessage()); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	return &wg
}

// BenchmarkPublish measures durable Publish throughput (each call fsynced, concurrent calls
// sharing one commit) against the number of concurrent publishers.
func BenchmarkPublish(b *testing.B) {
	for _, publishers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			bus := openBus(b, embedded.Config{})
			b.ReportAllocs()
			b.ResetTimer()
			publishAll(b, bus, "bench", b.N, publishers).Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPublishConsume measures end-to-end throughput: publishers publish b.N messages while
// one subscription in one group receives and acks them.
func BenchmarkPublishConsume(b *testing.B) {
	for _, publishers := range []int{1, 8} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			bus := openBus(b, embedded.Config{})
			sub, err := bus.Subscriber("bench")
			if err != nil {
				b.Fatal(err)
			}
			msgs, err := sub.Subscribe(context.Background(), "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			wg := publishAll(b, bus, "bench", b.N, publishers)
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
