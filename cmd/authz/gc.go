package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/config"
)

// gcPercent is the collector's target while the heap is far below its
// ceiling. Behind nginx on two shared cores, GOGC=400 took the p99 from
// 1.01–1.15× the seed design's to 0.94–0.96× (make bench-nginx): every
// collection's background work competes with the proxy for the same CPUs.
const gcPercent = 400

// tuneGC collects less often while keeping the memory ceiling the cache
// bounds already imply: the soft limit is what GOGC=100 would reach with
// both caches full (twice their bytes, plus room for the rest), so a full
// cache collects as before and a small one collects a quarter as often.
// GOGC and GOMEMLIMIT in the environment win.
func tuneGC(cfg *config.Config, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		neg := cfg.Cache.NegativeMaxBytes
		if neg == 0 {
			neg = authz.DefaultSideCacheBytes(cfg.Cache.MaxBytes)
		}
		debug.SetMemoryLimit(2*(cfg.Cache.MaxBytes+neg) + 64<<20)
	}
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	log.Info("garbage collector", "gogc", percent, "memory_limit_bytes", debug.SetMemoryLimit(-1))
}
