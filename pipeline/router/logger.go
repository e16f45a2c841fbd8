package router

import (
	"github.com/ThreeDotsLabs/watermill"
	"go.uber.org/zap"
)

// zapAdapter lets watermill log through the injected zap logger. Watermill's per-message
// Info lines go to Debug: per-message logging belongs at Debug.
type zapAdapter struct{ l *zap.Logger }

// NewLogger adapts a zap logger to watermill's LoggerAdapter.
func NewLogger(l *zap.Logger) watermill.LoggerAdapter {
	return zapAdapter{l.WithOptions(zap.AddCallerSkip(1))}
}

func (a zapAdapter) fields(f watermill.LogFields) []zap.Field {
	out := make([]zap.Field, 0, len(f))
	for k, v := range f {
		out = append(out, zap.Any(k, v))
	}
	return out
}

func (a zapAdapter) Error(msg string, err error, f watermill.LogFields) {
	a.l.Error(msg, append(a.fields(f), zap.Error(err))...)
}
func (a zapAdapter) Info(msg string, f watermill.LogFields) { a.l.Debug(msg, a.fields(f)...) }

// Warn logs a condition an operator should see (a lagging consumer group) at Warn.
func (a zapAdapter) Warn(msg string, f watermill.LogFields)  { a.l.Warn(msg, a.fields(f)...) }
func (a zapAdapter) Debug(msg string, f watermill.LogFields) { a.l.Debug(msg, a.fields(f)...) }
func (a zapAdapter) Trace(msg string, f watermill.LogFields) {}
func (a zapAdapter) With(f watermill.LogFields) watermill.LoggerAdapter {
	return zapAdapter{a.l.With(a.fields(f)...)}
}
