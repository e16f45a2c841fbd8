package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// trialFunc is what both chains offer.
type trialFunc interface {
	Trial(ctx context.Context, load Load) (Trial, error)
}

func TestReferenceChains(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		new  func(ChainConfig, *zap.Logger) (trialFunc, error)
	}{
		{"stock_chain_delivers_every_message_once_end_to_end", func(cfg ChainConfig, l *zap.Logger) (trialFunc, error) { return NewStockChain(cfg, l) }},
		{"raw_chain_delivers_every_message_once_end_to_end", func(cfg ChainConfig, l *zap.Logger) (trialFunc, error) { return NewRawChain(cfg, l) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := startRedis(t)
			chain, err := c.new(ChainConfig{Addr: srv.Addr(), Procs: []Proc{Self(), srv.Proc()}}, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
			if err != nil {
				t.Fatal(err)
			}
			// A long drain: on a busy machine (with -race) the chain may fall behind at 200/s,
			// and this test is about delivery, not speed.
			load := Load{Rate: 200, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond, Drain: 10 * time.Second}
			tr, err := chain.Trial(t.Context(), load)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(tr)
			total := load.TotalSends()
			if tr.Sent != total || tr.Delivered != total || tr.Duplicates != 0 {
				t.Errorf("sent %d, delivered %d distinct with %d duplicates; want %d each once", tr.Sent, tr.Delivered, tr.Duplicates, total)
			}
			if tr.Offered != 400 || tr.Dropped != 0 || tr.Failed != 0 || tr.Latency.Count != 400 || tr.Latency.Missing != 0 {
				t.Errorf("offered %d dropped %d failed %d, latency %s: want 400 measured, none missing", tr.Offered, tr.Dropped, tr.Failed, tr.Latency)
			}
			l := tr.Latency
			if !(l.P50 > 0 && l.P50 <= l.P99 && l.P99 <= l.Max && l.Max < load.Drain+load.Duration) {
				t.Errorf("latency %s is not sane", l)
			}
			if len(tr.Procs) != 2 || tr.Procs[0].Err != nil || tr.Procs[1].Err != nil || tr.Procs[1].PeakRSS == 0 {
				t.Errorf("process usage %+v", tr.Procs)
			}
			// The trial's streams are gone: the server holds nothing.
			client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer client.Close()
			keys, err := client.Keys(t.Context(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 0 {
				t.Errorf("streams left behind: %v", keys)
			}
		})
	}
}

func TestReferenceChainRefusesABadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cfg  ChainConfig
		log  *zap.Logger
		want []string
	}{
		{"names_every_problem_of_the_config", ChainConfig{Hops: -1, Work: "sleep"}, zap.NewNop(), []string{"address", "hops", "work"}},
		{"needs_a_logger", ChainConfig{Addr: "127.0.0.1:1"}, nil, []string{"logger"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, errStock := NewStockChain(c.cfg, c.log)
			_, errRaw := NewRawChain(c.cfg, c.log)
			for _, err := range []error{errStock, errRaw} {
				if err == nil {
					t.Fatal("built a chain")
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %s", err, w)
					}
				}
			}
		})
	}
}

func TestReferencePayload(t *testing.T) {
	t.Parallel()

	t.Run("is_a_json_object_of_40_fields_some_nested_near_the_size_asked", func(t *testing.T) {
		t.Parallel()
		for _, size := range []int{4096, 8192} {
			raw := ReferencePayload(size)
			if len(raw) < size-200 || len(raw) > size+200 {
				t.Errorf("payload for %d bytes has %d", size, len(raw))
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			nested := 0
			for _, v := range fields {
				if v[0] == '{' || v[0] == '[' {
					nested++
				}
			}
			if len(fields) != 40 || nested != 10 {
				t.Errorf("%d fields, %d nested; want 40 and 10", len(fields), nested)
			}
		}
		if !bytes.Equal(ReferencePayload(4096), ReferencePayload(4096)) {
			t.Error("payload is not deterministic")
		}
	})

	t.Run("decode_work_keeps_the_document", func(t *testing.T) {
		t.Parallel()
		in := ReferencePayload(4096)
		out, err := WorkDecode.apply(in)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(in, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Error("decode work changed the document")
		}
		if _, err := WorkDecode.apply([]byte("{")); err == nil {
			t.Error("decode work accepted broken JSON")
		}
		if fwd, _ := WorkForward.apply(in); !bytes.Equal(fwd, in) {
			t.Error("forward work changed the payload")
		}
	})
}
