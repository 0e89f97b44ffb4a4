package telemetry

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
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
	traces  *tracing.Provider
	answers *authz.Answers
	spans   map[string]string // door → its Check span's name
}

// Door is one door as telemetry labels it: the name its metrics and log
// lines carry, and its Check span's name. The doors define both and the
// server hands them over, so telemetry imports no door.
type Door struct{ Name, Span string }

// NewObserver returns an Observer of the doors; metrics may be nil,
// traces nil (off), answers nil (the defaults).
func NewObserver(log *slog.Logger, metrics *Metrics, opts LogOptions, traces *tracing.Provider, answers *authz.Answers, doors []Door) *Observer {
	if opts.AllowSample < 0 || opts.AllowSample > 1 {
		opts.AllowSample = 1
	}
	if traces == nil {
		traces = tracing.Off()
	}
	if answers == nil {
		answers = authz.DefaultAnswers()
	}
	spans := make(map[string]string, len(doors))
	for _, d := range doors {
		spans[d.Name] = d.Span
	}
	return &Observer{log: log, metrics: metrics, opts: opts, traces: traces, answers: answers, spans: spans}
}

// CheckStarted marks a Check in flight at door, and starts its span.
func (o *Observer) CheckStarted(ctx context.Context, door string, h authz.Header) context.Context {
	if o.metrics != nil {
		o.metrics.checkStarted(door)
	}
	return o.traces.StartCheck(ctx, o.spans[door], h)
}

// CheckDone records a decision. requestID is the proxy's x-request-id, if any.
func (o *Observer) CheckDone(ctx context.Context, d *authz.Decision, door, requestID string, latency time.Duration) {
	if o.metrics != nil {
		o.metrics.checkDone(d, door, latency)
	}
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		o.endSpan(span, d)
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
	if id := tracing.TraceID(ctx); id != "" {
		attrs = append(attrs, slog.String("trace_id", id))
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

// endSpan records the decision on its span: names the operator wrote and
// outcome classes only, never the token, a claim or a client's string.
func (o *Observer) endSpan(span trace.Span, d *authz.Decision) {
	cache := "miss"
	switch {
	case d.Cached:
		cache = "hit"
	case d.Shared:
		cache = "shared"
	}
	status := o.answers.Status(d.Outcome)
	span.SetAttributes(
		attribute.String("authz.outcome", d.Outcome.String()),
		attribute.String("authz.policy", d.Policy),
		attribute.String("authz.route", d.Route),
		attribute.String("authz.validator", d.Validator),
		attribute.String("authz.cache", cache),
		attribute.Int("http.response.status_code", status),
	)
	if d.Rule != "" {
		span.SetAttributes(attribute.String("authz.rule", d.Rule))
	}
	if d.Outcome == authz.Error {
		span.SetStatus(codes.Error, "the token could not be judged")
	}
	span.End()
}
