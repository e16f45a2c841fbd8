package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/redistest"
)

func TestServer(t *testing.T) {
	t.Parallel()

	t.Run("answers_ping_on_its_own_port", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Client().Ping(ctx).Err(); err != nil {
			t.Fatalf("ping %s: %v", srv.URL(), err)
		}
	})

	t.Run("keeps_data_across_restart_with_aof", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.WithAOF())
		c := srv.Client()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("set: %v", err)
		}
		srv.Restart()
		got, err := c.Get(ctx, "k").Result()
		if err != nil || got != "v" {
			t.Fatalf("get after restart = %q, %v; want \"v\"", got, err)
		}
	})

	t.Run("loses_data_across_restart_without_aof", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		c := srv.Client()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("set: %v", err)
		}
		srv.Restart()
		if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
			t.Fatalf("exists after restart = %d, %v; want 0", n, err)
		}
	})

	t.Run("refuses_connections_after_stop", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		srv.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Client().Ping(ctx).Err(); err == nil {
			t.Fatal("ping after Stop succeeded")
		}
	})
}
