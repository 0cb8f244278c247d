package metrics

import (
	"context"
	"log/slog"
)

// Slog is a Recorder that logs each entry as one record ("metric") at a
// fixed level, for local runs where no CloudWatch reads the output. Safe
// for concurrent use (slog handlers are).
type Slog struct {
	Log   *slog.Logger
	Level slog.Level
}

// NewSlog returns a Recorder logging entries on log at slog.LevelDebug.
func NewSlog(log *slog.Logger) Slog {
	if log == nil {
		log = slog.Default()
	}
	return Slog{Log: log, Level: slog.LevelDebug}
}

// Record logs e's metrics (name=value, unit in a group) and properties.
func (s Slog) Record(ctx context.Context, e Entry) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	if !log.Enabled(ctx, s.Level) || len(e.Metrics) == 0 {
		return
	}
	attrs := make([]slog.Attr, 0, len(e.Metrics)+len(e.Properties))
	for _, m := range e.Metrics {
		unit := m.Unit
		if unit == "" {
			unit = None
		}
		attrs = append(attrs, slog.Group(m.Name, slog.Float64("value", m.Value), slog.String("unit", string(unit))))
	}
	for k, v := range e.Properties {
		attrs = append(attrs, slog.Any(k, v))
	}
	log.LogAttrs(ctx, s.Level, "metric", attrs...)
}
