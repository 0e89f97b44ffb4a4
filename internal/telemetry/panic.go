package telemetry

import (
	"fmt"
	"log/slog"
)

// maxPanicText bounds what a panic's value contributes to the log line.
const maxPanicText = 512

// PanicReporter returns what is told of a recovered panic: it counts it in
// authz_panics_total{where} and logs it once, with its stack. The Check it
// happened in answered error; the process goes on.
func PanicReporter(log *slog.Logger, m *Metrics) func(where string, recovered any, stack []byte) {
	return func(where string, recovered any, stack []byte) { reportPanic(log, m, where, recovered, stack) }
}

// Panicked reports a panic a door recovered from.
func (o *Observer) Panicked(where string, recovered any, stack []byte) {
	reportPanic(o.log, o.metrics, where, recovered, stack)
}

func reportPanic(log *slog.Logger, m *Metrics, where string, recovered any, stack []byte) {
	if m != nil {
		m.ObservePanic(where)
	}
	text := fmt.Sprint(recovered)
	if len(text) > maxPanicText {
		text = text[:maxPanicText] + "…"
	}
	log.Error("panic recovered: the Check answered error", "where", where, "panic", text, "stack", string(stack))
}
