package agent

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"time"

	"github.com/driftwatch/driftwatch/agent/publish"
	"github.com/driftwatch/driftwatch/agent/state"
	"github.com/driftwatch/driftwatch/agent/watch"
)

// Health statuses.
const (
	// StatusOK: inotify watches every path and the server takes observations.
	StatusOK = "ok"
	// StatusDegraded: the agent polls (see watch.reason) or cannot reach the server.
	StatusDegraded = "degraded"
)

// HealthFile is the name of the health file in the state directory.
const HealthFile = "health.json"

// healthEvery is how often the health file is refreshed when something changed; it is also
// rewritten every healthRefresh, so that its updated_at shows the agent is alive.
const (
	healthEvery   = time.Second
	healthRefresh = 30 * time.Second
)

// Health is the agent's health, as health.json holds it and `driftwatch-agent health` prints.
type Health struct {
	Status  string `json:"status"`
	AgentID string `json:"agent_id"`
	CIID    string `json:"ci_id"`
	// Watch is the watcher's mode (inotify or polling, with the reason) and counters.
	Watch watch.Health `json:"watch"`
	// Outbox says whether the server is reachable and what is spooled.
	Outbox publish.Stats `json:"outbox"`
	// Snapshots counts snapshots taken; SnapshotsByReason by why (start, downtime, interval,
	// inotify_queue_overflow, degraded_to_polling).
	Snapshots         int            `json:"snapshots"`
	SnapshotsByReason map[string]int `json:"snapshots_by_reason"`
	// Pending counts paths whose save has not ended yet.
	Pending int `json:"pending"`
	// LastObservationAt is when the last observation was spooled.
	LastObservationAt time.Time `json:"last_observation_at,omitzero"`
	// LastError is the last failure of a step (capture, publish, state).
	LastError string    `json:"last_error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Health returns the agent's current health.
func (a *Agent) Health() Health {
	a.mu.Lock()
	h := Health{
		AgentID: a.cfg.AgentID, CIID: a.cfg.CIID, Snapshots: a.status.snapshots,
		SnapshotsByReason: maps.Clone(a.status.gaps), Pending: a.status.pending, LastObservationAt: a.status.lastObs,
		LastError: a.status.lastError,
	}
	w := a.watcher
	a.mu.Unlock()
	if w != nil {
		h.Watch = w.Health()
	}
	h.Outbox = a.out.Stats()
	h.Status = StatusOK
	if h.Watch.Mode != watch.ModeInotify || !h.Outbox.Connected {
		h.Status = StatusDegraded
	}
	return h
}

// writeHealth keeps health.json current until ctx ends.
func (a *Agent) writeHealth(ctx context.Context) error {
	path := filepath.Join(a.cfg.StateDir, HealthFile)
	var last []byte
	var written time.Time
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		h := a.Health()
		h.UpdatedAt = time.Time{}
		cmp, _ := json.Marshal(h)
		if string(cmp) != string(last) || time.Since(written) >= healthRefresh {
			h.UpdatedAt = a.now().UTC()
			raw, _ := json.MarshalIndent(h, "", "  ")
			if err := state.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
				a.fail("write health", err)
			}
			last, written = cmp, time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
