package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
)

// reopen closes b and opens its file again.
func reopen(t *testing.T, b *embedded.Bus, path string) *embedded.Bus {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return openBus(t, embedded.Config{Path: path})
}

func TestReopen(t *testing.T) {
	t.Parallel()

	t.Run("redelivers_unacked_messages_and_not_acked_ones", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "bus.db")
		b := openBus(t, embedded.Config{Path: path})
		m := publish(t, b, "t", "1", "2", "3", "4")
		ch := subscribe(t, b, "g", "t")
		expect(t, ch, m[0], m[1])
		if got := next(t, ch); got.UUID != m[2].UUID { // delivered, never acked
			t.Fatalf("got %s, want %s", got.UUID, m[2].UUID)
		}

		b = reopen(t, b, path)
		sentinel := publish(t, b, "t", "5")
		expect(t, subscribe(t, b, "g", "t"), m[2], m[3], sentinel[0])
	})

	t.Run("does_not_redeliver_a_message_acked_after_an_unacked_one", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "bus.db")
		b := openBus(t, embedded.Config{Path: path})
		m := publish(t, b, "t", "1", "2", "3")
		held := next(t, subscribe(t, b, "g", "t")) // 1, never acked
		if held.UUID != m[0].UUID {
			t.Fatalf("got %s, want %s", held.UUID, m[0].UUID)
		}
		expect(t, subscribe(t, b, "g", "t"), m[1], m[2])

		b = reopen(t, b, path)
		sentinel := publish(t, b, "t", "4")
		expect(t, subscribe(t, b, "g", "t"), m[0], sentinel[0])
	})

	t.Run("keeps_every_group_at_its_own_place", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "bus.db")
		b := openBus(t, embedded.Config{Path: path})
		m := publish(t, b, "t", "1", "2")
		expect(t, subscribe(t, b, "ahead", "t"), m[0], m[1])
		expect(t, subscribe(t, b, "behind", "t"), m[0])

		b = reopen(t, b, path)
		m3 := publish(t, b, "t", "3")
		expect(t, subscribe(t, b, "ahead", "t"), m3[0])
		expect(t, subscribe(t, b, "behind", "t"), m[1], m3[0])
		expect(t, subscribe(t, b, "new", "t"), m[0], m[1], m3[0])
	})

	t.Run("refuses_a_file_another_bus_holds", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "bus.db")
		openBus(t, embedded.Config{Path: path})
		if b, err := embedded.Open(embedded.Config{Path: path, OpenTimeout: 50e6}); err == nil {
			_ = b.Close()
			t.Fatal("second open of a held file succeeded")
		}
	})
}
