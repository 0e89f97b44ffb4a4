package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/authz-dev/authz/internal/config"
)

func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	cfg := &config.Config{Cache: config.Cache{MaxBytes: 256 << 20}}

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(cfg, slog.New(slog.DiscardHandler))
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d, want %d", got, gcPercent)
	}
	// Both caches full under GOGC=100: 2 × (256 MiB + 32 MiB) + 64 MiB.
	if got, want := debug.SetMemoryLimit(math.MaxInt64), int64(2*(256+32)+64)<<20; got != want {
		t.Errorf("memory limit %d, want %d", got, want)
	}

	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC(cfg, slog.New(slog.DiscardHandler))
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC in the environment overridden: %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT in the environment overridden: %d", got)
	}
}
