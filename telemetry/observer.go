package telemetry

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/authz-dev/authz/authz"
)

// LogOptions shape the decision log.
type LogOptions struct {
	// Allow logs allow decisions too (every non-allow decision is always
	// logged), sampled at AllowSample (0..1; 0 logs none).
	Allow       bool
	AllowSample float64
	// Claims adds the token's claims to each line. Off by default: claims
	// are personal data.
	Claims bool
}

// Observer records every decision a door answers: metrics, and one log line
// per non-allow decision (and sampled allows when asked).
type Observer struct {
	log     *slog.Logger
	metrics *Metrics
	opts    LogOptions
}

// NewObserver returns an Observer; metrics may be nil.
func NewObserver(log *slog.Logger, metrics *Metrics, opts LogOptions) *Observer {
	if opts.AllowSample < 0 || opts.AllowSample > 1 {
		opts.AllowSample = 1
	}
	return &Observer{log: log, metrics: metrics, opts: opts}
}

// CheckStarted marks a Check in flight at door.
func (o *Observer) CheckStarted(door string) {
	if o.metrics != nil {
		o.metrics.checkStarted(door)
	}
}

// CheckDone records a decision. requestID is the proxy's x-request-id, if any.
func (o *Observer) CheckDone(ctx context.Context, d *authz.Decision, door, requestID string, latency time.Duration) {
	if o.metrics != nil {
		o.metrics.checkDone(d, door, latency)
	}
	level := slog.LevelInfo
	switch d.Outcome {
	case authz.Allow:
		if !o.opts.Allow || (o.opts.AllowSample < 1 && rand.Float64() >= o.opts.AllowSample) {
			return
		}
	case authz.Error:
		level = slog.LevelWarn
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("outcome", d.Outcome.String()),
		slog.String("reason", d.Reason),
		slog.String("policy", d.Policy),
		slog.String("route", d.Route),
		slog.String("rule", d.Rule),
		slog.String("validator", d.Validator),
		slog.String("sender", d.Sender),
		slog.String("token", d.TokenID),
		slog.Bool("cached", d.Cached),
		slog.String("door", door),
		slog.String("request_id", bounded(requestID, 128)),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
	}
	if o.opts.Claims && d.Claims != nil {
		attrs = append(attrs, slog.Any("claims", d.Claims))
	}
	o.log.LogAttrs(ctx, level, "decision", attrs...)
}

// bounded keeps a client-supplied value from bloating log lines.
func bounded(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
