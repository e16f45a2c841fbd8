package ingest

import (
	"sync"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/event"
)

// onceLog remembers the ids of the last max rejections logged, so that a redelivered message
// whose rejection was logged already is not logged again: a security event is logged once,
// at Warn, when it happens.
type onceLog struct {
	max int

	mu     sync.Mutex
	logged map[string]bool
	order  []string
}

func newOnceLog(max int) *onceLog { return &onceLog{max: max, logged: map[string]bool{}} }

// first reports whether id is seen for the first time, remembering it.
func (l *onceLog) first(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged[id] {
		return false
	}
	l.logged[id] = true
	l.order = append(l.order, id)
	if len(l.order) > l.max {
		delete(l.logged, l.order[0])
		l.order = l.order[1:]
	}
	return true
}

func zapRejection(r event.ObservationRejected_v1, messageID string) []zap.Field {
	return []zap.Field{
		zap.String("ci_id", r.CIID), zap.String("agent_id", r.AgentID), zap.String("message_id", messageID),
		zap.String("reason", string(r.Reason)), zap.String("detail", r.Detail),
	}
}
