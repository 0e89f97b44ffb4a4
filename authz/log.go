package authz

import (
	"context"
	"log/slog"
	"time"
)

// LogDecision writes one decision line. It carries the token's hash prefix,
// never the token, and no claims.
func LogDecision(ctx context.Context, log *slog.Logger, d *Decision, door, requestID string, latency time.Duration) {
	level := slog.LevelInfo
	switch d.Outcome {
	case Allow:
		level = slog.LevelDebug
	case Error:
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	log.LogAttrs(ctx, level, "decision",
		slog.String("outcome", d.Outcome.String()),
		slog.String("reason", d.Reason),
		slog.String("policy", d.Policy),
		slog.String("validator", d.Validator),
		slog.String("token", d.TokenID),
		slog.Bool("cached", d.Cached),
		slog.String("door", door),
		slog.String("request_id", requestID),
		slog.Duration("latency", latency),
	)
}
